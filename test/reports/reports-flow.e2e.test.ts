/**
 * Reports end to end with real processes on loopback: traffic through a slave shows up in the
 * master's reports as it happened (per slave, blocked, search, CSV), and batches spooled by a
 * slave that crashed while the master was down are delivered, once, by its next incarnation.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { until } from '../support/until.js';

let secrets: ClusterSecrets;
let upstream: Upstream;
const procs: Proc[] = [];

beforeAll(async () => {
  secrets = clusterSecrets();
  upstream = await startUpstream();
  writeFileSync(join(secrets.dir, 'policy.yaml'), blockingPolicy('blocked'));
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await upstream?.close();
  closeAgent();
  secrets?.remove();
});

async function master(port?: number): Promise<MasterProc> {
  const m = await startMaster(secrets, { port, extra: ['--policy', join(secrets.dir, 'policy.yaml')] });
  procs.push(m);
  return m;
}

async function report(m: MasterProc, path: string): Promise<any> {
  const r = await request(`${m.url}/api/v1/reports${path}`, { token: secrets.adminToken });
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
  return r.json ?? r.text;
}

const via = async (port: number, path: string) =>
  (await request(`http://127.0.0.1:${upstream.port}/${path}`, { proxyPort: port })).status;

it('reports what went through the slave, as it happened, and survives a slave crash with the master down', async () => {
  const start = Date.now() - 1000;
  const window = `from=${start}&to=${Date.now() + 3_600_000}`;
  let m = await master();
  const s1 = await startSlave(secrets, {
    name: 'r1',
    masterUrl: m.url,
    extra: ['--policy', join(secrets.dir, 'policy.yaml')],
  });
  procs.push(s1);

  for (let i = 0; i < 20; i++) expect(await via(s1.port, `ok/${i}`)).toBe(200);
  for (let i = 0; i < 10; i++) expect(await via(s1.port, `blocked/${i}`)).toBe(403);
  await until('30 records at the master', async () => (await report(m, `/summary?${window}`)).requests === 30, 15_000);

  expect(await report(m, `/per-slave?${window}`)).toEqual([
    expect.objectContaining({ slave: 'r1', requests: 30, blocked: 10 }),
  ]);
  expect(await report(m, `/blocked?${window}`)).toEqual([
    expect.objectContaining({ rule: 'block-blocked', host: '127.0.0.1', requests: 10 }),
  ]);
  const denied = await report(m, `/search?${window}&action=deny&limit=100`);
  expect(denied.records).toHaveLength(10);
  for (const r of denied.records) {
    expect(r).toMatchObject({
      slave: 'r1',
      action: 'deny',
      status: 403,
      rule: 'block-blocked',
      method: 'GET',
      client: '127.0.0.1',
    });
    expect(r.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${upstream.port}/blocked/\\d$`));
    expect(typeof r.policyHash).toBe('string');
  }
  const csv = (await request(`${m.url}/api/v1/reports/search?${window}&format=csv`, { token: secrets.adminToken }))
    .text;
  expect(csv.split('\r\n').filter(Boolean)).toHaveLength(31);

  // The master dies; the slave keeps enforcing and spools; then the slave crashes too.
  await m.stop('SIGKILL');
  for (let i = 0; i < 30; i++) expect(await via(s1.port, `ok/after-${i}`)).toBe(200);
  for (let i = 0; i < 10; i++) expect(await via(s1.port, `blocked/after-${i}`)).toBe(403);
  const spool = join(secrets.dir, 'r1', 'spool');
  await until('batches cut and spooled', () => readdirSync(spool).some((f) => f.endsWith('.json.gz')), 5000);
  await new Promise((r) => setTimeout(r, 1500)); // the last partial batch is cut within the 1 s flush interval
  await s1.stop('SIGKILL');
  expect(readdirSync(spool).filter((f) => f.endsWith('.json.gz')).length).toBeGreaterThan(0);

  // The slave's next incarnation finds its spool; the master comes back on the same port.
  const s2 = await startSlave(secrets, {
    name: 'r1',
    masterUrl: m.url,
    extra: ['--policy', join(secrets.dir, 'policy.yaml')],
  });
  procs.push(s2);
  m = await master(m.port);
  await until('every record delivered', async () => (await report(m, `/summary?${window}`)).requests >= 70, 40_000);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await report(m, `/summary?${window}`)).toMatchObject({ requests: 70, blocked: 20, distinctSlaves: 1 });
  expect(readdirSync(spool).filter((f) => f.endsWith('.json.gz'))).toEqual([]);
}, 90_000);
