/**
 * bench/reports: ingestion records/s into SQLite and PostgreSQL (store API, with a no-index
 * anchor measured in the same run; and POST /batches on a real master), report query latency
 * on a larger table, and the slave's req/s with reporting on vs off. See `--help`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openReportStore, type ReportFilter, type ReportStoreOptions } from '@safesquid/proxy/reports';
import { startPostgres, type PostgresServer } from '@safesquid/test/dist/reports/postgres-server.js';
import { alignedRows, underline } from '../aligned-rows.js';
import { ProcessGroup } from '../proxy/processes.js';
import { ingestThroughHttp, ingestThroughStore, ingestWithoutIndexes } from './ingest.js';
import { postgresCpuSeconds, startMaster } from './master.js';
import { medianMs, QUERY_CASES, RARE_SLAVE } from './queries.js';
import { makeRecords } from './records.js';
import { measureSlaveCost, type Mode, type SlaveRun } from './slave-cost.js';

const HELP = `usage: node bench/dist/reports/main.js [options]
  --records N        records per ingestion run (default 200000)
  --batch N          records per batch (default 500)
  --query-rows N     rows of the table the queries run on (default 1000000)
  --only LIST        comma-separated subset of store,http,query,slave (default all)
  --no-postgres      SQLite only
  --duration S       wrk seconds per slave run (default 8)
  --rounds N         rounds of the slave modes (default 3)
  --connections N    wrk connections (default 50)
  --baseline DIR     also ingest through DIR's master (a git worktree of an earlier commit, built
                     with "npx tsc -b"), alternating with this tree's, for a same-run comparison
`;
const TARGET = 50_000;
/** Batches in flight through the store API, as from several slaves (PostgreSQL overlaps their commits). */
const STORE_CONCURRENCY = 4;
const DAY = 86_400_000;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)} %`;

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  return alignedRows([cells[0], underline(cells), ...cells.slice(1)]).join('\n');
}

async function rollupRowCount(opts: ReportStoreOptions): Promise<number> {
  if ('sqlitePath' in opts) {
    const db = new Database(opts.sqlitePath, { readonly: true });
    try {
      return Number((db.prepare('SELECT count(*) AS n FROM records_hourly').get() as { n: number }).n);
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: opts.postgresUrl });
  await c.connect();
  try {
    return Number((await c.query('SELECT count(*) AS n FROM records_hourly')).rows[0].n);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '200000' },
      batch: { type: 'string', default: '500' },
      'query-rows': { type: 'string', default: '1000000' },
      only: { type: 'string', default: 'store,http,query,slave' },
      'no-postgres': { type: 'boolean', default: false },
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      baseline: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const n = Number(values.records);
  const batch = Number(values.batch);
  const queryRows = Number(values['query-rows']);
  const only = new Set(values.only.split(','));
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const group = new ProcessGroup();
  group.killOnExit();
  const dir = mkdtempSync(join(tmpdir(), 'bench-reports-'));
  let pgServer: PostgresServer | undefined;
  let dbn = 0;
  const targets: { name: string; opts: () => Promise<ReportStoreOptions>; dbCpuSeconds?: () => number }[] = [
    { name: 'SQLite', opts: async () => ({ sqlitePath: join(dir, `r${dbn++}.db`) }) },
  ];
  try {
    if (!values['no-postgres'] && (only.has('store') || only.has('http') || only.has('query'))) {
      // Durable settings (fsync on, synchronous_commit on): the figure a production master would see.
      pgServer = await startPostgres({ fast: false });
      const server = pgServer;
      targets.push({
        name: 'PostgreSQL',
        opts: async () => ({ postgresUrl: await server.createDatabase(`r${dbn++}`) }),
        dbCpuSeconds: () => postgresCpuSeconds(join(server.dir, 'data')),
      });
    }
    const start = Date.now() - 30 * DAY;
    const records = makeRecords(n, { slave: 'bench-s1', start, spanMs: 30 * DAY, seed: 1 });
    process.stdout.write(
      `bench/reports: ${fmt(n)} synthetic records, batches of ${batch}; target ≥ ${fmt(TARGET)} records/s\n`,
    );
    // The machine may be shared: per-CPU-second figures are the ones that do not move with its load.
    process.stdout.write(
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${cpus().length} CPUs\n\n`,
    );

    if (only.has('store')) {
      const rows: (string | number)[][] = [];
      for (const t of targets) {
        const store = await openReportStore(await t.opts());
        const rate = await ingestThroughStore(store, records, batch, 'b', STORE_CONCURRENCY);
        await store.close();
        const bare = await ingestWithoutIndexes(await t.opts(), records, batch, STORE_CONCURRENCY);
        const sqlite = t.name === 'SQLite';
        rows.push([
          `${t.name} store API`,
          fmt(rate.wall),
          fmt(bare.wall),
          sqlite ? fmt(rate.cpu) : '-',
          sqlite ? fmt(bare.cpu) : '-',
          rate.wall >= TARGET ? 'yes' : 'NO',
        ]);
      }
      process.stdout.write(
        `ingestion through the store API (${STORE_CONCURRENCY} batches in flight as from ${STORE_CONCURRENCY} slaves; one transaction per batch with its id, 5 indexes, hourly rollup)\n`,
      );
      process.stdout.write(
        `${table(['store', 'records/s', 'anchor: no indexes', 'per CPU-s', 'anchor per CPU-s', `≥ ${fmt(TARGET)}`], rows)}\n\n`,
      );
    }

    if (only.has('http')) {
      const rows: (string | number)[][] = [];
      const bySlave = [0, 1, 2, 3].map((s) =>
        makeRecords(Math.ceil(n / 4), { slave: `bench-s${s}`, start, spanMs: 30 * DAY, seed: 10 + s }),
      );
      // With --baseline, the earlier build's master runs before each of this tree's: same machine, same load.
      const trees: [string, string][] = values.baseline
        ? [
            ['baseline', values.baseline],
            ['this tree', root],
          ]
        : [['', root]];
      for (const t of targets) {
        for (const [label, tree] of trees) {
          const opts = await t.opts();
          const master = await startMaster(group, tree, 'postgresUrl' in opts ? { postgresUrl: opts.postgresUrl } : {});
          try {
            const r = await ingestThroughHttp(master, bySlave, batch, 4, t.dbCpuSeconds);
            if (r.stored !== r.sent) throw new Error(`${t.name}: master stored ${r.stored} of ${r.sent} records`);
            rows.push([
              `${t.name} via POST /batches${label ? ` (${label})` : ''}`,
              fmt(r.recordsPerSec),
              fmt(1e6 / r.masterCpuUs),
              r.masterCpuUs.toFixed(1),
              r.dbCpuUs === undefined ? '-' : r.dbCpuUs.toFixed(1),
              `${r.gzipBytesPerRecord.toFixed(0)} B`,
              r.maxLoopDelayMs.toFixed(0),
              r.maxHealthzMs.toFixed(0),
              `${fmt(r.stored)}/${fmt(r.sent)}`,
              r.recordsPerSec >= TARGET ? 'yes' : 'NO',
            ]);
          } finally {
            await master.stop();
          }
        }
      }
      process.stdout.write(
        `ingestion through a real master (gzip batches of rows as slaves send them, 4 keep-alive connections, 4 slaves);\n`,
      );
      process.stdout.write(
        `loop max: the master's longest event-loop delay; /healthz max: its slowest answer to a probe every 20 ms\n`,
      );
      process.stdout.write(
        `${table(['path', 'records/s', 'per master CPU-s', 'master CPU µs/rec', 'PostgreSQL CPU µs/rec', 'gzip/record', 'loop max ms', '/healthz max ms', 'stored/sent', `≥ ${fmt(TARGET)}`], rows)}\n\n`,
      );
    }

    if (only.has('query')) {
      // Generated chunk by chunk: 10 M records would not fit in the heap at once.
      const CHUNK = 5000;
      const chunks = Math.ceil(queryRows / CHUNK);
      // One chunk in 50 from a slave that served for short spells only (an HPA scaled it up and down).
      const slaveOf = (k: number) => (k % 50 === 49 ? RARE_SLAVE : 'bench-s1');
      const chunk = (k: number) =>
        makeRecords(Math.min(CHUNK, queryRows - k * CHUNK), {
          slave: slaveOf(k),
          start: start + Math.floor((k * 30 * DAY) / chunks),
          spanMs: Math.floor((30 * DAY) / chunks),
          seed: 100 + k,
        });
      const windows: [string, ReportFilter][] = [
        ['30 d', { from: start, to: start + 30 * DAY }],
        ['24 h', { from: start + 29 * DAY, to: start + 30 * DAY }],
      ];
      const results = new Map<string, string[]>();
      const headers = ['report'];
      for (const t of targets) {
        const opts = await t.opts();
        const store = await openReportStore(opts);
        const loadStart = performance.now();
        for (let k = 0; k < chunks; k++) await store.ingestBatch(`q-${k}`, slaveOf(k), chunk(k));
        const loadS = (performance.now() - loadStart) / 1000;
        process.stdout.write(
          `(${t.name}: loaded ${fmt(queryRows)} records in ${loadS.toFixed(1)} s; ${fmt(await rollupRowCount(opts))} hourly rollup rows)\n`,
        );
        for (const [label, f] of windows) {
          headers.push(`${t.name} ${label} ms`);
          for (const q of QUERY_CASES) {
            await q.run(store, f); // warm the cache: steady state, not first touch
            const ms = await medianMs(() => q.run(store, f), 3);
            results.set(q.name, [...(results.get(q.name) ?? []), ms.toFixed(ms < 10 ? 1 : 0)]);
          }
        }
        await store.close();
      }
      process.stdout.write(`report latency on ${fmt(queryRows)} rows over 30 days (median of 3 after a warm-up run)\n`);
      process.stdout.write(
        `${table(
          headers,
          QUERY_CASES.map((q) => [q.name, ...(results.get(q.name) ?? [])]),
        )}\n\n`,
      );
    }

    if (only.has('slave')) {
      const load = { durationS: Number(values.duration), connections: Number(values.connections), threads: 2 };
      const r = await measureSlaveCost(group, root, load, Number(values.rounds));
      // Median: one round disturbed by the shared machine should not carry the result.
      const median = (
        xs: SlaveRun[],
        k: 'reqPerSec' | 'slaveCpuUsPerRequest' | 'p99Ms' | 'masterCpuUsPerRequest' | 'slavePreemptionsPerRequest',
      ) => {
        const v = xs.map((x) => x[k] ?? 0).sort((a, b) => a - b);
        return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
      };
      const row = (name: string, mode: Mode, anchor: Mode) => {
        const runs = r.runs[mode];
        const rps = median(runs, 'reqPerSec');
        const cpu = median(runs, 'slaveCpuUsPerRequest');
        const isAnchor = mode === anchor;
        return [
          name,
          runs.map((x) => fmt(x.reqPerSec)).join(' / '),
          fmt(rps),
          isAnchor ? 'anchor' : pct(rps, median(r.runs[anchor], 'reqPerSec')),
          runs.map((x) => x.slaveCpuUsPerRequest.toFixed(1)).join(' / '),
          cpu.toFixed(1),
          isAnchor ? 'anchor' : pct(cpu, median(r.runs[anchor], 'slaveCpuUsPerRequest')),
          median(runs, 'p99Ms').toFixed(2),
          median(runs, 'slavePreemptionsPerRequest').toFixed(2),
          mode.startsWith('on') ? median(runs, 'masterCpuUsPerRequest').toFixed(1) : '-',
        ];
      };
      const headers = [
        'reports',
        'req/s per round',
        'median',
        'change',
        'slave CPU µs/req per round',
        'median',
        'change',
        'p99 ms',
        'slave preempted/req',
        'master CPU µs/req',
      ];
      process.stdout
        .write(`slave through wrk (${load.connections} connections, ${load.durationS} s, upstream nginx), median of ${r.runs.off.length} interleaved rounds.
`);
      process.stdout
        .write(`off: no master, no records kept (anchor); spool: master unreachable (batches cut, gzipped, fsynced, kept); on: a real master.

`);
      process.stdout
        .write(`the slave's cost: wrk, nginx and the slave on CPU ${r.slaveCpus} in every mode; the master on CPU ${r.masterCpus}, as on another machine
`);
      process.stdout
        .write(`${table(headers, [row('off', 'off', 'off'), row('spool only', 'spool', 'off'), row('on', 'on', 'off')])}

`);
      process.stdout
        .write(`shared: everything on CPUs ${r.allCpus}, the master at nice 19 competing with the slave for them
`);
      process.stdout
        .write(`${table(headers, [row('off', 'off-shared', 'off-shared'), row('on', 'on-shared', 'off-shared')])}
`);
      process.stdout
        .write(`records stored by the master from the runs with it: ${fmt(r.stored)}; requests wrk completed in them, warm-ups included: ${fmt(r.requestsOn)} (requests in flight when wrk stops are recorded too); cost target ≤ 10 %
`);
    }
  } finally {
    await group.stopAll();
    await pgServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/reports: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
