/**
 * The master with `--postgres-url`: reports from a real slave land in a real PostgreSQL, once,
 * and survive a master restart (the database, not the master's volume, holds them).
 */
import { startPostgres, type PostgresServer } from '../reports/postgres-server.js';
import {
  blockingPolicy,
  closeAgent,
  request,
  startMaster,
  startSlave,
  startUpstream,
  type Proc,
  type Upstream,
} from './cluster-processes.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { until } from '../support/until.js';

jest.setTimeout(90_000);

let pgServer: PostgresServer;
let secrets: ClusterSecrets;
let upstream: Upstream;
const running: Proc[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
  secrets = clusterSecrets();
  upstream = await startUpstream();
});

afterAll(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  await upstream?.close();
  await pgServer?.stop();
  secrets?.remove();
  closeAgent();
});

it('stores slave reports in PostgreSQL, exactly once across a master restart', async () => {
  const url = await pgServer.createDatabase('portal_e2e');
  const start = Date.now() - 1000;
  const m1 = await startMaster(secrets, { extra: ['--postgres-url', url] });
  running.push(m1);
  const admin = (base: string, path: string) => request(`${base}/api/v1${path}`, { token: secrets.adminToken });
  const put = await request(`${m1.url}/api/v1/policy`, {
    method: 'PUT',
    token: secrets.adminToken,
    body: blockingPolicy('no'),
  });
  expect(put.status).toBe(201);
  const s = await startSlave(secrets, { name: 'pg-slave', masterUrl: m1.url });
  running.push(s);
  await until(
    'slave in sync',
    async () => ((await admin(m1.url, '/slaves')).json as { policyHash: string }[])[0]?.policyHash === put.json.hash,
  );

  const traffic = async (n: number) => {
    for (let i = 0; i < n; i++)
      expect(
        (await request(`http://127.0.0.1:${upstream.port}/${i % 2 ? 'no' : 'yes'}/${i}`, { proxyPort: s.port })).status,
      ).toBe(i % 2 ? 403 : 200);
  };
  const stored = async (base: string) =>
    (await admin(base, `/reports/summary?from=${start}&to=${Date.now() + 60_000}`)).json as {
      requests: number;
      blocked: number;
    };

  await traffic(30);
  await until('30 records in PostgreSQL', async () => (await stored(m1.url)).requests === 30);
  await m1.stop();
  await traffic(20);
  const m2 = await startMaster(secrets, {
    port: m1.port,
    extra: ['--postgres-url', url],
    dataDir: `${secrets.dir}/master-2`,
  });
  running.push(m2);
  await until('50 records in PostgreSQL', async () => (await stored(m2.url)).requests >= 50, 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  expect(await stored(m2.url)).toMatchObject({ requests: 50, blocked: 25 });
});
