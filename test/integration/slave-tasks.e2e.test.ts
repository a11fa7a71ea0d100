/**
 * Tasks from the master to its slaves, with the master and slaves as real processes on loopback:
 * each task kind, idempotency by id, expiry, a slave that is offline when the task is queued, and
 * the portal's 400s naming the field. Every process is stopped by PID.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import {
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

jest.setTimeout(90_000);

let secrets: ClusterSecrets;
let upstream: Upstream;
const running: Proc[] = [];

beforeEach(async () => {
  secrets = clusterSecrets('tasks');
  upstream = await startUpstream();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  await upstream.close();
  secrets.remove();
});

afterAll(() => closeAgent());

async function master(): Promise<MasterProc> {
  const m = await startMaster(secrets);
  running.push(m);
  return m;
}

async function slave(m: MasterProc, name: string, extra: string[] = []): Promise<SlaveProc> {
  const s = await startSlave(secrets, { name, masterUrl: m.url, extra });
  running.push(s);
  return s;
}

const api = (m: MasterProc, path: string, o: Parameters<typeof request>[1] = {}) =>
  request(`${m.url}/api/v1${path}`, { token: secrets.adminToken, ...o });

const postTask = (m: MasterProc, body: Record<string, unknown>) =>
  api(m, '/tasks', { method: 'POST', body: JSON.stringify(body), type: 'application/json' });

interface TaskView {
  id: string;
  kind: string;
  state: 'open' | 'done';
  createdAt: string;
  slaves: { name: string; state: string; detail?: string; data?: Record<string, any> }[];
}

/** Waits until every slave's outcome of task `id` is final, and returns the task. */
async function finished(m: MasterProc, id: string, timeoutMs = 20_000): Promise<TaskView> {
  return until(
    `task ${id} to finish`,
    async () => {
      const t = (await api(m, `/tasks/${id}`)).json as TaskView;
      return t.state === 'done' ? t : undefined;
    },
    timeoutMs,
    100,
  );
}

const outcome = (t: TaskView, name: string) => t.slaves.find((s) => s.name === name);

async function known(m: MasterProc, names: string[]): Promise<void> {
  await until(`slaves ${names.join(', ')} to be known and online`, async () => {
    const list = (await api(m, '/slaves')).json as { name: string; state: string; policyHash: string | null }[];
    return names.every((n) => list.some((s) => s.name === n && s.state === 'online' && s.policyHash)) || undefined;
  });
}

const runs = (s: SlaveProc, id: string) =>
  s
    .stderr()
    .split('\n')
    .filter((l) => l.includes('"msg":"running task"') && l.includes(`"task":"${id}"`)).length;

it('collects diagnostics from every slave once per id, without secrets', async () => {
  const m = await master();
  const [a, b] = [await slave(m, 'edge-a'), await slave(m, 'edge-b')];
  await known(m, ['edge-a', 'edge-b']);
  const hash = (await api(m, '/policy')).json.hash as string;

  const first = await postTask(m, { id: 'diag-1', kind: 'diagnostics' });
  expect(first.status).toBe(201);
  expect(first.json).toMatchObject({ id: 'diag-1', kind: 'diagnostics', target: '*' });
  const done = await finished(m, 'diag-1');
  for (const name of ['edge-a', 'edge-b']) {
    const o = outcome(done, name)!;
    expect(o.state).toBe('succeeded');
    expect(o.data).toMatchObject({ name, policy: { hash, source: 'master' }, masterReachable: true });
    expect(typeof o.data!.version).toBe('string');
    expect(typeof o.data!.openConnections).toBe('number');
    expect(Array.isArray(o.data!.syncEvents)).toBe(true);
    expect(Array.isArray(o.data!.recentErrors)).toBe(true);
    expect(o.data!.flags).toMatchObject({ name, tokenFile: secrets.tokenFile });
    // The token file's path is shown; the token itself never is.
    expect(JSON.stringify(o.data)).not.toContain(secrets.clusterToken);
  }
  expect((await api(m, '/slaves/edge-a/diagnostics')).json).toMatchObject({ taskId: 'diag-1' });

  // The same id again: the task as it stands, not a second run.
  const again = await postTask(m, { id: 'diag-1', kind: 'diagnostics' });
  expect(again.status).toBe(200);
  expect(again.json.createdAt).toBe(first.json.createdAt);
  const other = await postTask(m, { id: 'diag-1', kind: 'resync' });
  expect(other.status).toBe(409);
  expect(other.json.field).toBe('id');
  // A later task for the same slaves proves they polled again after the repeat.
  expect((await postTask(m, { id: 'diag-2', kind: 'diagnostics' })).status).toBe(201);
  await finished(m, 'diag-2');
  expect([runs(a, 'diag-1'), runs(b, 'diag-1')]).toEqual([1, 1]);
});

it('re-syncs policy and reloads users on the slave asked, and refuses bad input naming the field', async () => {
  const m = await master();
  const users = join(secrets.dir, 'users');
  writeFileSync(users, `alice:${bcrypt.hashSync('alice-pw', 4)}\n`);
  const a = await slave(m, 'edge-a', ['--auth-users', users]);
  await slave(m, 'edge-b');
  await known(m, ['edge-a', 'edge-b']);
  const hash = (await api(m, '/policy')).json.hash as string;

  expect((await postTask(m, { id: 'sync-1', kind: 'resync', slave: 'edge-a' })).status).toBe(201);
  const synced = await finished(m, 'sync-1');
  expect(synced.slaves.map((s) => s.name)).toEqual(['edge-a']);
  expect(outcome(synced, 'edge-a')).toMatchObject({
    state: 'succeeded',
    detail: `policy ${hash} in force (unchanged)`,
  });

  writeFileSync(users, `alice:${bcrypt.hashSync('alice-pw', 4)}\ncarol:${bcrypt.hashSync('carol-pw', 4)}\n`);
  expect((await postTask(m, { id: 'users-1', kind: 'reload-users' })).status).toBe(201);
  const reloaded = await finished(m, 'users-1');
  expect(outcome(reloaded, 'edge-a')).toMatchObject({ state: 'succeeded', detail: `2 users reloaded from ${users}` });
  expect(outcome(reloaded, 'edge-b')).toMatchObject({
    state: 'failed',
    detail: expect.stringMatching(/no proxy authentication/),
  });
  const carol = await request(`http://127.0.0.1:${upstream.port}/x`, {
    proxyPort: a.port,
    headers: { 'proxy-authorization': `Basic ${Buffer.from('carol:carol-pw').toString('base64')}` },
  });
  expect(carol.status).not.toBe(407);

  const bad = async (body: Record<string, unknown>) => {
    const r = await postTask(m, body);
    return [r.status, r.json.field];
  };
  expect(await bad({ kind: 'reboot' })).toEqual([400, 'kind']);
  expect(await bad({ kind: 'resync', slave: 'nobody' })).toEqual([400, 'slave']);
  expect(await bad({ kind: 'resync', expiresAt: '2020-01-01T00:00:00Z' })).toEqual([400, 'expiresAt']);
  expect(await bad({ kind: 'resync', expiresInSeconds: -5 })).toEqual([400, 'expiresInSeconds']);
  expect(await bad({ kind: 'resync', id: 'no spaces please' })).toEqual([400, 'id']);
});

it('hands a task to a slave that was offline when it returns, and expires one that waited too long', async () => {
  const m = await master();
  const first = await slave(m, 'edge-a');
  await known(m, ['edge-a']);
  await first.stop('SIGTERM');
  running.splice(running.indexOf(first), 1);

  expect((await postTask(m, { id: 'short', kind: 'resync', slave: 'edge-a', expiresInSeconds: 1 })).status).toBe(201);
  expect((await postTask(m, { id: 'long', kind: 'diagnostics', slave: 'edge-a', expiresInSeconds: 600 })).status).toBe(
    201,
  );
  expect(outcome((await api(m, '/tasks/long')).json as TaskView, 'edge-a')!.state).toBe('pending');
  // Past the short task's expiry (1 s, with margin) before the slave is back.
  await new Promise((r) => setTimeout(r, 2500));

  await slave(m, 'edge-a');
  const long = await finished(m, 'long');
  expect(outcome(long, 'edge-a')).toMatchObject({ state: 'succeeded', detail: 'diagnostics collected' });
  const short = (await api(m, '/tasks/short')).json as TaskView;
  expect(outcome(short, 'edge-a')).toMatchObject({
    state: 'expired',
    detail: expect.stringMatching(/before the slave fetched it/),
  });
  const list = (await api(m, '/tasks?slave=edge-a')).json as TaskView[];
  expect(list.map((t) => t.id)).toEqual(['long', 'short']);
});

it('drains and exits a slave for its supervisor to restart, once per id', async () => {
  const m = await master();
  const s = await slave(m, 'edge-r');
  await known(m, ['edge-r']);
  expect((await postTask(m, { id: 'restart-1', kind: 'restart', slave: 'edge-r' })).status).toBe(201);
  // 75 (EX_TEMPFAIL): a supervisor restarts it even with systemd's Restart=on-failure.
  expect(await s.exitWithin(40_000)).toBe(75);
  running.splice(running.indexOf(s), 1);
  const t = await finished(m, 'restart-1');
  expect(outcome(t, 'edge-r')).toMatchObject({
    state: 'succeeded',
    detail: expect.stringMatching(/^draining \d+ open/),
  });

  // The supervisor's part: the same slave again, which must not restart a second time.
  const back = await slave(m, 'edge-r');
  expect((await postTask(m, { id: 'restart-1', kind: 'restart', slave: 'edge-r' })).status).toBe(200);
  expect((await postTask(m, { id: 'after', kind: 'diagnostics', slave: 'edge-r' })).status).toBe(201);
  await finished(m, 'after');
  expect(back.running()).toBe(true);
  expect(runs(back, 'restart-1')).toBe(0);
});
