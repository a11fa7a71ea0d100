/**
 * The master and several slaves as real processes on loopback: policy down, reports up, and the
 * master's access restriction. Each scenario starts its own cluster and stops every process by PID.
 */
import { writeFileSync } from 'node:fs';
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
  type SlaveProc,
  type Upstream,
} from './cluster-processes.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { until } from '../support/until.js';

jest.setTimeout(60_000);

let secrets: ClusterSecrets;
let upstream: Upstream;
const running: Proc[] = [];

async function master(o: Parameters<typeof startMaster>[1] = {}): Promise<MasterProc> {
  const m = await startMaster(secrets, o);
  running.push(m);
  return m;
}

async function slave(o: Parameters<typeof startSlave>[1]): Promise<SlaveProc> {
  const s = await startSlave(secrets, o);
  running.push(s);
  return s;
}

beforeEach(async () => {
  secrets = clusterSecrets();
  upstream = await startUpstream();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  await upstream.close();
  secrets.remove();
});

afterAll(() => closeAgent());

const admin = (m: MasterProc, path: string, o: Parameters<typeof request>[1] = {}) =>
  request(`${m.url}/api/v1${path}`, { token: secrets.adminToken, ...o });

async function putPolicy(m: MasterProc, text: string): Promise<string> {
  const r = await admin(m, '/policy', { method: 'PUT', body: text });
  if (r.status !== 201) throw new Error(`PUT /policy answered ${r.status}: ${r.text}`);
  return r.json.hash as string;
}

async function allInSync(m: MasterProc, names: string[], hash: string): Promise<boolean> {
  const slaves = (await admin(m, '/slaves')).json as { name: string; policyHash: string }[];
  return names.every((n) => slaves.some((s) => s.name === n && s.policyHash === hash));
}

/** Status of GET <upstream>/<path> through the slave. */
async function via(s: SlaveProc, path: string): Promise<number> {
  return (await request(`http://127.0.0.1:${upstream.port}/${path}`, { proxyPort: s.port })).status;
}

async function storedRecords(m: MasterProc, from: number): Promise<number> {
  const r = await admin(m, `/reports/summary?from=${from}&to=${Date.now() + 60_000}`);
  if (r.status !== 200) throw new Error(`summary answered ${r.status}: ${r.text}`);
  return r.json.requests as number;
}

it('propagates a policy change to every slave, which enforces it', async () => {
  const m = await master();
  const first = await putPolicy(m, blockingPolicy('alpha'));
  const names = ['s1', 's2', 's3'];
  const slaves = await Promise.all(names.map((name) => slave({ name, masterUrl: m.url })));
  await until('slaves on the first policy', () => allInSync(m, names, first));
  for (const s of slaves) {
    expect(await via(s, 'alpha/x')).toBe(403);
    expect(await via(s, 'beta/x')).toBe(200);
  }

  const t0 = Date.now();
  const second = await putPolicy(m, blockingPolicy('beta'));
  await until('slaves on the second policy', () => allInSync(m, names, second), 5000);
  const elapsed = Date.now() - t0;
  expect(elapsed).toBeLessThan(2000);
  for (const s of slaves) {
    expect(await via(s, 'alpha/x')).toBe(200);
    expect(await via(s, 'beta/x')).toBe(403);
  }
  const entries = (await admin(m, '/slaves')).json as {
    name: string;
    inSync: boolean;
    state: string;
    events: { kind: string }[];
  }[];
  expect(entries.map((e) => [e.name, e.inSync, e.state])).toEqual(names.map((n) => [n, true, 'online']));
  for (const e of entries) expect(e.events.some((ev) => ev.kind === 'applied')).toBe(true);
});

it('keeps enforcing and spooling while the master is down, then delivers every record exactly once', async () => {
  const m1 = await master();
  const hash = await putPolicy(m1, blockingPolicy('blocked'));
  const start = Date.now() - 1000;
  const slaves = await Promise.all(['a', 'b'].map((name) => slave({ name, masterUrl: m1.url })));
  await until('slaves in sync', () => allInSync(m1, ['a', 'b'], hash));

  let sent = 0;
  const traffic = async (rounds: number, expectBlocked: number) => {
    for (let i = 0; i < rounds; i++) {
      for (const s of slaves) {
        expect(await via(s, `ok/${i}`)).toBe(200);
        expect(await via(s, `blocked/${i}`)).toBe(expectBlocked);
        sent += 2;
      }
    }
  };
  await traffic(20, 403);
  await until('records before the outage stored', async () => (await storedRecords(m1, start)) === sent);

  // The master dies hard, mid-flight, while traffic goes on.
  const outage = traffic(30, 403);
  await new Promise((r) => setTimeout(r, 50));
  await m1.stop('SIGKILL');
  await outage;
  await traffic(20, 403);
  // Records of the outage are on disk, waiting, and none was dropped.
  for (const s of slaves) {
    await until(`${s.name} spooling`, async () => {
      const metrics = (await request(`http://127.0.0.1:${s.metricsPort}/metrics`)).text;
      return /^safesquid_report_spool_batches [1-9]/m.test(metrics) || undefined;
    });
    const metrics = (await request(`http://127.0.0.1:${s.metricsPort}/metrics`)).text;
    expect(metrics).toMatch(/^safesquid_report_records_dropped_total(\{[^}]*\})? 0$/m);
  }

  const m2 = await master({ port: m1.port });
  await until('every record delivered', async () => (await storedRecords(m2, start)) >= sent, 30_000);
  // Nothing arrives twice, however the retries went.
  await new Promise((r) => setTimeout(r, 1500));
  expect(await storedRecords(m2, start)).toBe(sent);
  const entries = (await admin(m2, '/slaves')).json as {
    name: string;
    lastReportAt: string | null;
    events: { kind: string }[];
  }[];
  for (const name of ['a', 'b']) {
    const e = entries.find((x) => x.name === name);
    expect(e?.lastReportAt).not.toBeNull();
    expect(e?.events.map((ev) => ev.kind)).toEqual(expect.arrayContaining(['unreachable', 'recovered']));
  }
});

it('a slave restarted while the master is down enforces its persisted policy', async () => {
  const m = await master();
  const hash = await putPolicy(m, blockingPolicy('secret'));
  const s1 = await slave({ name: 'r1', masterUrl: m.url });
  await until('slave in sync', () => allInSync(m, ['r1'], hash));
  await m.stop();
  await s1.stop();
  const again = await slave({ name: 'r1', masterUrl: m.url, port: s1.port });
  expect(await via(again, 'secret/plans')).toBe(403);
  expect(await via(again, 'public/page')).toBe(200);
  const metrics = await request(`http://127.0.0.1:${again.metricsPort}/metrics`);
  expect(metrics.text).toContain(hash.slice('sha256:'.length, 'sha256:'.length + 12));
});

it('refuses an address outside the allow list (403) and a wrong token (401)', async () => {
  const m = await master({ allow: ['127.0.0.2/32'] });
  const fromOutside = await request(`${m.url}/api/v1/policy/bundle`, {
    token: secrets.clusterToken,
    localAddress: '127.0.0.1',
  });
  expect(fromOutside.status).toBe(403);
  expect(fromOutside.json.error).toMatch(/127\.0\.0\.1 is not in the portal's allow list/);
  const wrongToken = await request(`${m.url}/api/v1/policy/bundle`, {
    token: 'not-the-token',
    localAddress: '127.0.0.2',
  });
  expect(wrongToken.status).toBe(401);
  const allowed = await request(`${m.url}/api/v1/policy/bundle`, {
    token: secrets.clusterToken,
    localAddress: '127.0.0.2',
  });
  expect(allowed.status).toBe(200);

  // A slave connecting from 127.0.0.1 is refused too, gets no policy, and the refusal is logged.
  const s = await slave({ name: 'outsider', masterUrl: m.url });
  await until(
    'the refusal logged',
    () => m.output().includes('"client":"127.0.0.1"') && m.output().includes('portal request refused'),
  );
  const registry = await request(`${m.url}/api/v1/slaves`, { token: secrets.adminToken, localAddress: '127.0.0.2' });
  expect(registry.json).toEqual([]);
  expect(await via(s, 'anything')).not.toBe(200);

  // From an allowed address but with the wrong cluster token: refused with 401, never registered.
  const open = await master();
  writeFileSync(join(secrets.dir, 'wrong-token'), 'not-the-cluster-token\n');
  const impostor = await slave({ name: 'impostor', masterUrl: open.url, tokenFile: join(secrets.dir, 'wrong-token') });
  await until('the impostor refused', async () => {
    const metrics = (await request(`http://127.0.0.1:${impostor.metricsPort}/metrics`)).text;
    return /safesquid_sync_polls_total\{result="denied"\} [1-9]/.test(metrics) || undefined;
  });
  expect(open.output()).toContain('the bearer token is not valid for this cluster');
  expect((await admin(open, '/slaves')).json).toEqual([]);
  expect(await via(impostor, 'anything')).not.toBe(200);
});

it('follows a rotated cluster token without restarts: refused while only the master has it, delivering once the slave has it too', async () => {
  const m = await master();
  const hash = await putPolicy(m, blockingPolicy('blocked'));
  const slaveToken = join(secrets.dir, 'slave-token');
  writeFileSync(slaveToken, `${secrets.clusterToken}\n`);
  const s = await slave({ name: 'rotating', masterUrl: m.url, tokenFile: slaveToken });
  await until('the slave on the policy', () => allInSync(m, ['rotating'], hash));
  const from = Date.now() - 1000;
  for (let i = 0; i < 5; i++) expect(await via(s, `before-${i}`)).toBe(200);
  await until('the first records at the master', async () => (await storedRecords(m, from)) === 5 || undefined, 15_000);

  const rotated = `rotated-${Math.random().toString(36).slice(2)}`;
  writeFileSync(secrets.tokenFile, `${rotated}\n`);
  for (let i = 0; i < 5; i++) expect(await via(s, `between-${i}`)).toBe(200);
  // The slave's next report batch reaches the master with the old token: the master re-reads its file then.
  await until(
    'the master on the new token',
    () => m.output().includes('cluster token file changed') || undefined,
    15_000,
  );
  await until(
    'the old token refused',
    () => m.output().includes('the bearer token is not valid for this cluster') || undefined,
    15_000,
  );
  expect(await storedRecords(m, from)).toBe(5);

  writeFileSync(slaveToken, `${rotated}\n`);
  await until(
    'every record delivered with the new token',
    async () => (await storedRecords(m, from)) === 10 || undefined,
    30_000,
  );
  expect(s.output()).toContain('cluster token file changed: now sending the new cluster token');
});
