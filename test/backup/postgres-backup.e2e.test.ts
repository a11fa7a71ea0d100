/**
 * Reports in PostgreSQL are backed up with PostgreSQL's own tools, as docs/operations.md says:
 * `pg_dump --format=custom` while a real slave keeps posting through a real master (one
 * snapshot: the count lies between the counts before and after it), `pg_restore` into a fresh
 * database, and a master started on it (with `safesquid master restore` for its data directory)
 * serves the same count and still knows every batch id, so a slave's resend is not stored twice.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  blockingPolicy,
  closeAgent,
  request,
  startMaster,
  startSlave,
  startUpstream,
  type MasterProc,
  type Proc,
  type Upstream,
} from '../integration/cluster-processes.js';
import { startPostgres, type PostgresServer } from '../reports/postgres-server.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { REPO } from '../support/repo.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';
const CLI = join(REPO, 'proxy/dist/cli/main.js');

let secrets: ClusterSecrets;
let upstream: Upstream;
let server: PostgresServer;
const procs: Proc[] = [];
const start = Date.now() - 60_000;
const window = () => `from=${start}&to=${Date.now() + 3_600_000}`;

beforeAll(async () => {
  secrets = clusterSecrets('pg-backup');
  upstream = await startUpstream();
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await upstream?.close();
  await server?.stop();
  closeAgent();
  secrets?.remove();
});

async function recordsAt(m: MasterProc): Promise<number> {
  const r = await request(`${m.url}/api/v1/reports/summary?${window()}`, { token: secrets.adminToken });
  if (r.status !== 200) throw new Error(`summary: ${r.status} ${r.text}`);
  return Number(r.json.requests);
}

async function countIn(url: string, table: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  } finally {
    await c.end();
  }
}

it('pg_dump under traffic, pg_restore into a fresh database: same records, batch ids still deduplicate', async () => {
  const source = await server.createDatabase('reports_src');
  const m1 = await startMaster(secrets, { dataDir: join(secrets.dir, 'm1'), extra: ['--postgres-url', source] });
  procs.push(m1);
  const put = await request(`${m1.url}/api/v1/policy`, {
    method: 'PUT',
    token: secrets.adminToken,
    body: blockingPolicy('blocked'),
  });
  expect(put.status).toBe(201);
  const slave = await startSlave(secrets, { name: 'pg1', masterUrl: m1.url });
  procs.push(slave);
  await until(
    'the slave enforces the edited policy',
    async () => (await request(`http://127.0.0.1:${upstream.port}/probe`, { proxyPort: slave.port })).status === 200,
    20_000,
  );

  let stopped = false;
  let sent = 0;
  const load = (async () => {
    const deadline = Date.now() + 90_000;
    while (!stopped && sent < 20_000 && Date.now() < deadline) {
      await request(`http://127.0.0.1:${upstream.port}/ok/${sent}`, { proxyPort: slave.port });
      sent++;
    }
  })();
  try {
    await until('reports arrive', async () => (await recordsAt(m1)) >= 300, 30_000);
    const before = await recordsAt(m1);
    const dump = join(secrets.dir, 'reports.dump');
    await run(join(PG_BIN, 'pg_dump'), ['--format=custom', '--file', dump, '--dbname', source]);
    const after = await recordsAt(m1);

    // The master's own backup says where the reports are, and holds none of them. --final: this
    // master then takes no more batches (the slave keeps them), as before a handover.
    const backup = join(secrets.dir, 'master.tar.gz');
    const b = await run(process.execPath, [
      CLI,
      'master',
      'backup',
      '--master',
      m1.url,
      '--admin-token-file',
      secrets.adminTokenFile,
      '--to',
      backup,
      '--json',
      '--final',
    ]);
    const manifest = JSON.parse(b.stdout).manifest;
    expect(manifest.reports).toEqual({ store: 'postgres' });
    expect(Object.keys(manifest.files)).not.toContain('reports.db');
    const late = await request(`${m1.url}/api/v1/reports/batches`, {
      method: 'POST',
      token: secrets.clusterToken,
      type: 'application/json',
      headers: { 'x-safesquid-slave': 'pg1' },
      body: JSON.stringify({ batchId: 'after-the-final-backup', slave: 'pg1', records: [] }),
    });
    expect(late.status).toBe(503);
    expect(late.json.error).toMatch(/took its final backup and takes no more reports.*retry later/);

    const target = await server.createDatabase('reports_restored');
    await run(join(PG_BIN, 'pg_restore'), ['--no-owner', '--exit-on-error', '--dbname', target, dump]);
    const restored = await countIn(target, 'records');
    expect(restored).toBeGreaterThanOrEqual(before);
    expect(restored).toBeLessThanOrEqual(after);

    await run(process.execPath, [CLI, 'master', 'restore', '--from', backup, '--data-dir', join(secrets.dir, 'm2')]);
    const m2 = await startMaster(secrets, { dataDir: join(secrets.dir, 'm2'), extra: ['--postgres-url', target] });
    procs.push(m2);
    expect(await recordsAt(m2)).toBe(restored);

    // A batch the dump holds, sent again (as a slave whose ack was lost would): acknowledged, not stored.
    const c = new pg.Client({ connectionString: target });
    await c.connect();
    const { id, slave: name } = (await c.query('SELECT id, slave FROM batches ORDER BY received_at LIMIT 1')).rows[0];
    await c.end();
    const resend = await request(`${m2.url}/api/v1/reports/batches`, {
      method: 'POST',
      token: secrets.clusterToken,
      type: 'application/json',
      headers: { 'x-safesquid-slave': name },
      body: JSON.stringify({ batchId: id, slave: name, records: [] }),
    });
    expect(resend.status).toBe(200);
    expect(resend.json).toMatchObject({ batchId: id, duplicate: true, inserted: 0 });
    expect(await countIn(target, 'records')).toBe(restored);
    process.stdout.write(`pg backup figures: ${restored} records in the dump (${before} before, ${after} after it)\n`);
  } finally {
    stopped = true;
    await load;
  }
}, 180_000);
