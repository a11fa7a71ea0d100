/**
 * Backup and restore with real processes on loopback: a standalone master with four policy
 * versions, two slaves posting reports of steady traffic through them to a real upstream.
 * A backup taken under that traffic holds a point in time between two counts; a final backup
 * (the master then refuses batches, which the slaves keep) restores onto a fresh master with the
 * same policy versions, slave registry and report count as the original, and the slaves, never
 * stopped, resume against it: every request reported once, none lost, none twice.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
} from '../integration/cluster-processes.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { REPO } from '../support/repo.js';
import { until } from '../support/until.js';

const CLI = join(REPO, 'proxy/dist/cli/main.js');
const run = promisify(execFile);

async function safesquid(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { timeout: 120_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
}

let secrets: ClusterSecrets;
let upstream: Upstream;
const procs: Proc[] = [];
const start = Date.now() - 60_000;
const window = () => `from=${start}&to=${Date.now() + 3_600_000}`;

beforeAll(async () => {
  secrets = clusterSecrets('backup');
  upstream = await startUpstream();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await upstream?.close();
  closeAgent();
  secrets?.remove();
});

async function master(dataDir: string, port?: number): Promise<MasterProc> {
  const m = await startMaster(secrets, { dataDir: join(secrets.dir, dataDir), port });
  procs.push(m);
  return m;
}

async function api(m: MasterProc, path: string): Promise<any> {
  const r = await request(`${m.url}/api/v1${path}`, { token: secrets.adminToken });
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
  return r.json ?? r.text;
}
const recordsAt = async (m: MasterProc) => Number((await api(m, `/reports/summary?${window()}`)).requests);

/** Sequential requests through one slave to unique paths, until stopped (at most 20 000 or 120 s). */
function traffic(slave: SlaveProc) {
  let stopped = false;
  let sent = 0;
  const failures: string[] = [];
  const done = (async () => {
    const deadline = Date.now() + 120_000;
    while (!stopped && sent < 20_000 && Date.now() < deadline) {
      const path = `ok/${slave.name}-${sent}`;
      const r = await request(`http://127.0.0.1:${upstream.port}/${path}`, { proxyPort: slave.port });
      if (r.status !== 200) failures.push(`${path}: ${r.status}`);
      sent++;
    }
  })();
  return {
    get sent() {
      return sent;
    },
    failures,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

const backupFile = (name: string) => join(secrets.dir, name);
const backupArgs = (m: MasterProc, file: string, ...more: string[]) => [
  'master',
  'backup',
  '--master',
  m.url,
  '--admin-token-file',
  secrets.adminTokenFile,
  '--to',
  file,
  '--json',
  ...more,
];

it('restores a backup taken under traffic; the slaves resume against the restored master, nothing lost or doubled', async () => {
  const m1 = await master('m1');
  const versions = ['first', 'second', 'third'];
  for (const v of versions) {
    const r = await request(`${m1.url}/api/v1/policy`, {
      method: 'PUT',
      token: secrets.adminToken,
      body: blockingPolicy(`blocked-${v}`),
    });
    expect(r.status).toBe(201);
  }
  const originalVersions = await api(m1, '/policy/versions');
  expect(originalVersions).toHaveLength(4);

  const slaves = [
    await startSlave(secrets, { name: 'bk1', masterUrl: m1.url }),
    await startSlave(secrets, { name: 'bk2', masterUrl: m1.url }),
  ];
  procs.push(...slaves);
  // The seeded default policy refuses loopback upstreams; the edited one lets them through.
  for (const s of slaves)
    await until(
      `${s.name} enforces the newest policy`,
      async () => (await request(`http://127.0.0.1:${upstream.port}/probe`, { proxyPort: s.port })).status === 200,
      20_000,
    );
  const loads = slaves.map(traffic);
  await until('reports arrive at the master', async () => (await recordsAt(m1)) >= 300, 30_000);

  // A backup under traffic is one point in time between two counts.
  const before = await recordsAt(m1);
  let t = Date.now();
  const hot = await safesquid(...backupArgs(m1, backupFile('hot.tar.gz')));
  const hotMs = Date.now() - t;
  const after = await recordsAt(m1);
  expect(hot).toMatchObject({ code: 0, err: '' });
  const hotManifest = JSON.parse(hot.out).manifest;
  expect(hotManifest.reports.records).toBeGreaterThanOrEqual(before);
  expect(hotManifest.reports.records).toBeLessThanOrEqual(after);
  expect(hotManifest.policy.versions).toBe(4);
  expect(hotManifest.slaves.count).toBe(2);
  expect(statSync(backupFile('hot.tar.gz')).mode & 0o777).toBe(0o600);
  const checked = await safesquid('master', 'restore', '--from', backupFile('hot.tar.gz'), '--check');
  expect(checked.code).toBe(0);
  expect(checked.out).toMatch(/is a sound backup, .*4 policy versions.*2 slaves/);

  // Restore never touches the data of a running master, --force or not.
  const onRunning = await safesquid(
    'master',
    'restore',
    '--from',
    backupFile('hot.tar.gz'),
    '--data-dir',
    join(secrets.dir, 'm1'),
    '--force',
  );
  expect(onRunning.code).toBe(1);
  expect(onRunning.err).toMatch(/a master is running on .*m1.*stop it before restoring/);

  // The final backup: everything the master acknowledged is in it; later batches stay with the slaves.
  t = Date.now();
  const final = await safesquid(...backupArgs(m1, backupFile('final.tar.gz'), '--final'));
  const finalMs = Date.now() - t;
  expect(final).toMatchObject({ code: 0, err: '' });
  const manifest = JSON.parse(final.out).manifest;
  const frozen = await recordsAt(m1);
  expect(frozen).toBe(manifest.reports.records);
  const sentAtFinal = loads.reduce((n, l) => n + l.sent, 0);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await recordsAt(m1)).toBe(frozen);
  await m1.stop();

  // Restored onto a fresh data directory, first on a port the slaves do not know.
  const restored = await safesquid(
    'master',
    'restore',
    '--from',
    backupFile('final.tar.gz'),
    '--data-dir',
    join(secrets.dir, 'm2'),
  );
  expect(restored).toMatchObject({ code: 0, err: '' });
  let m2 = await master('m2');
  expect(await api(m2, '/policy/versions')).toEqual(originalVersions);
  expect(await recordsAt(m2)).toBe(frozen);
  expect((await api(m2, '/cluster')).slaves.map((s: { name: string }) => s.name).sort()).toEqual(['bk1', 'bk2']);
  await m2.stop();

  // In the original's place: the slaves, which kept taking traffic, deliver what they kept.
  m2 = await master('m2', m1.port);
  await new Promise((r) => setTimeout(r, 2000));
  await Promise.all(loads.map((l) => l.stop()));
  const sent = loads.map((l) => l.sent);
  const total = sent.reduce((a, b) => a + b, 0);
  expect(loads.flatMap((l) => l.failures)).toEqual([]);
  // + the probes made while waiting for the slaves' policy.
  const probes = Number((await api(m2, `/reports/summary?${window()}&url=probe`)).requests);
  await until(
    'every request reported to the restored master',
    async () => (await recordsAt(m2)) >= total + probes,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1500));
  expect(await recordsAt(m2)).toBe(total + probes);
  const perSlave = await api(m2, `/reports/per-slave?${window()}`);
  for (const [i, s] of slaves.entries())
    expect(perSlave.find((r: { slave: string }) => r.slave === s.name)?.requests).toBeGreaterThanOrEqual(sent[i]);
  const csv = (
    await request(`${m2.url}/api/v1/reports/search?${window()}&format=csv&limit=100000`, { token: secrets.adminToken })
  ).text;
  const urls = csv
    .split('\r\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => /(http:\/\/127\.0\.0\.1:\d+\/ok\/[^,]+)/.exec(line)?.[1])
    .filter((u): u is string => u !== undefined);
  expect(urls).toHaveLength(total);
  expect(new Set(urls).size).toBe(total);
  for (const [i, s] of slaves.entries())
    for (let n = 0; n < sent[i]; n++)
      if (!urls.includes(`http://127.0.0.1:${upstream.port}/ok/${s.name}-${n}`)) throw new Error(`${s.name}-${n} lost`);

  process.stdout.write(
    `backup figures: hot backup ${hotMs} ms for ${hotManifest.reports.records} records ` +
      `(${statSync(backupFile('hot.tar.gz')).size} bytes); final backup ${finalMs} ms for ${manifest.reports.records} records ` +
      `(${statSync(backupFile('final.tar.gz')).size} bytes); ${sentAtFinal} requests sent at the final backup, ` +
      `${total} in all, ${total - manifest.reports.records} delivered to the restored master after it\n`,
  );
}, 240_000);

it('refuses a damaged, truncated or foreign file, and a data directory that holds data, with the reason', async () => {
  const good = backupFile('hot.tar.gz');
  const bytes = readFileSync(good);
  const truncated = backupFile('truncated.tar.gz');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const foreign = backupFile('foreign.tar.gz');
  writeFileSync(foreign, 'not a backup\n');
  const check = (file: string) => safesquid('master', 'restore', '--from', file, '--check');
  expect(await check(truncated)).toMatchObject({
    code: 1,
    err: expect.stringMatching(/not a usable backup: .*(ends early|truncated)/),
  });
  expect(await check(foreign)).toMatchObject({
    code: 1,
    err: expect.stringMatching(/not a usable backup: not a gzip/),
  });

  // A data directory with a master's data: only with --force, and then moved aside.
  const dir = join(secrets.dir, 'm1');
  const plain = await safesquid('master', 'restore', '--from', good, '--data-dir', dir);
  expect(plain.code).toBe(1);
  expect(plain.err).toMatch(/already holds a master's data \(policy\.db.*pass --force/);
  const forced = await safesquid('master', 'restore', '--from', good, '--data-dir', dir, '--force');
  expect(forced.code).toBe(0);
  expect(forced.out).toMatch(/the data it replaced is in .*replaced-\d{8}T\d{6}Z/);
}, 60_000);
