/** Ingestion rates: through the store API (with a no-index anchor) and through POST /batches. */
import http from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  openReportStore,
  RecordQueue,
  type AccessRecord,
  type ReportStore,
  type ReportStoreOptions,
} from '@safesquid/proxy/reports';
import { request, storedRecords, type BenchMaster } from './master.js';

const gzipAsync = promisify(gzip);
const INDEXES = ['records_ts', 'records_user_ts', 'records_host_ts', 'records_action_ts', 'records_slave_ts'];

export interface Rate {
  /** Records per wall-clock second. */
  wall: number;
  /** Records per CPU second of this process (SQLite runs in it; PostgreSQL mostly does not). */
  cpu: number;
}

export async function ingestThroughStore(
  store: ReportStore,
  records: AccessRecord[],
  batchSize: number,
  tag: string,
  concurrency: number,
): Promise<Rate> {
  const slave = records[0].slave;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    for (let i = next; i < records.length; i = next) {
      next += batchSize;
      await store.ingestBatch(`${tag}-${i}`, slave, records.slice(i, i + batchSize));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stored = await store.count();
  if (stored !== records.length) throw new Error(`${store.kind}: stored ${stored} of ${records.length} records`);
  return { wall: records.length / seconds, cpu: records.length / ((cpu.user + cpu.system) / 1e6) };
}

/**
 * The anchor: the same store code into a table without its five secondary indexes, so the
 * figure beside it shows what the report indexes cost at ingestion (the rollup stays).
 */
export async function ingestWithoutIndexes(
  opts: ReportStoreOptions,
  records: AccessRecord[],
  batchSize: number,
  concurrency: number,
): Promise<Rate> {
  const store = await openReportStore(opts);
  try {
    if ('sqlitePath' in opts) {
      const db = new Database(opts.sqlitePath);
      for (const ix of INDEXES) db.exec(`DROP INDEX ${ix}`);
      db.close();
    } else {
      const c = new pg.Client({ connectionString: opts.postgresUrl });
      await c.connect();
      for (const ix of INDEXES) await c.query(`DROP INDEX ${ix}`);
      await c.end();
    }
    return await ingestThroughStore(store, records, batchSize, 'bare', concurrency);
  } finally {
    await store.close();
  }
}

export interface HttpIngest {
  recordsPerSec: number;
  /** Master CPU (user + system) per record, µs. */
  masterCpuUs: number;
  /** CPU of the database server per record, µs, when `dbCpuSeconds` was given (PostgreSQL). */
  dbCpuUs?: number;
  stored: number;
  sent: number;
  gzipBytesPerRecord: number;
  /** Longest event-loop delay the master saw during the run (its monitorEventLoopDelay, via /metrics), ms. */
  maxLoopDelayMs: number;
  /** Slowest GET /healthz of a probe sent every 20 ms during the run: what a kubelet or the UI waits, ms. */
  maxHealthzMs: number;
}

const LOOP_DELAY_MAX = /^safesquid_portal_nodejs_eventloop_lag_max_seconds\s+(\S+)$/m;

/** The master's longest event-loop delay since the previous scrape (prom-client resets it on each). */
async function maxLoopDelayMs(master: BenchMaster): Promise<number> {
  const agent = new http.Agent();
  try {
    const r = await request(agent, `${master.url}/metrics`, 'GET', {});
    const m = LOOP_DELAY_MAX.exec(r.body);
    if (r.status !== 200 || !m)
      throw new Error(`GET /metrics answered ${r.status} without an event-loop lag: ${r.body.slice(0, 200)}`);
    return Number(m[1]) * 1000;
  } finally {
    agent.destroy();
  }
}

/** GET /healthz every `everyMs` until `stop()`; resolves the slowest answer, ms. */
function probeHealthz(master: BenchMaster, everyMs: number): { stop(): Promise<number> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const r = await request(agent, `${master.url}/healthz`, 'GET', {});
      if (r.status !== 200) throw new Error(`GET /healthz answered ${r.status}: ${r.body}`);
      const ms = performance.now() - t;
      if (ms > slowest) slowest = ms;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - ms)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      return slowest;
    },
  };
}

/** A batch's JSON as slaves send it: the slave's own RecordQueue writes it. */
function rowBatch(batchId: string, slave: string, records: AccessRecord[]): Buffer {
  const queue = new RecordQueue(records.length);
  for (const r of records) queue.push(r);
  const taken = queue.take(
    records.length,
    Number.MAX_SAFE_INTEGER,
    `"batchId":${JSON.stringify(batchId)},"slave":${JSON.stringify(slave)}`,
  );
  if (taken?.records !== records.length)
    throw new Error(`bench: a batch of ${records.length} records took ${taken?.records ?? 0}`);
  return Buffer.from(taken.json);
}

/** POSTs pre-gzipped batches to a real master with `concurrency` keep-alive connections. */
export async function ingestThroughHttp(
  master: BenchMaster,
  bySlave: AccessRecord[][],
  batchSize: number,
  concurrency: number,
  dbCpuSeconds?: () => number,
): Promise<HttpIngest> {
  const bodies: { slave: string; body: Buffer }[] = [];
  let sent = 0;
  for (const records of bySlave) {
    const slave = records[0].slave;
    for (let i = 0; i < records.length; i += batchSize) {
      const batch = records.slice(i, i + batchSize);
      sent += batch.length;
      const body = await gzipAsync(rowBatch(`${slave}-${i}`, slave, batch));
      bodies.push({ slave, body });
    }
  }
  // Interleave slaves, as several slaves would send at once.
  bodies.sort((a, b) => a.body.length - b.body.length || a.slave.localeCompare(b.slave));
  const gzipBytes = bodies.reduce((n, b) => n + b.body.length, 0);
  const before = await storedRecords(master);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  await maxLoopDelayMs(master);
  const probe = probeHealthz(master, 20);
  const cpu0 = master.cpuSeconds();
  const db0 = dbCpuSeconds?.();
  const started = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const { slave, body } = bodies[next++];
      const r = await request(
        agent,
        `${master.url}/api/v1/reports/batches`,
        'POST',
        {
          authorization: `Bearer ${master.token}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': body.length,
          'x-safesquid-slave': slave,
        },
        body,
      );
      if (r.status !== 200) throw new Error(`POST /batches answered ${r.status}: ${r.body}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = master.cpuSeconds() - cpu0;
  const db = dbCpuSeconds && db0 !== undefined ? dbCpuSeconds() - db0 : undefined;
  const maxHealthzMs = await probe.stop();
  const loopDelayMs = await maxLoopDelayMs(master);
  agent.destroy();
  const stored = (await storedRecords(master)) - before;
  return {
    recordsPerSec: sent / seconds,
    masterCpuUs: (cpu * 1e6) / sent,
    dbCpuUs: db === undefined ? undefined : (db * 1e6) / sent,
    stored,
    sent,
    gzipBytesPerRecord: gzipBytes / sent,
    maxLoopDelayMs: loopDelayMs,
    maxHealthzMs,
  };
}
