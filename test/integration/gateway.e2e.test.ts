/**
 * Several slaves as one gateway: a real HAProxy in front of two slaves (as a LoadBalancer Service
 * puts them; PROXY protocol v2, so the slaves see each client's address, not the balancer's), a real Prometheus scraping the master and both slaves, and the master's unified
 * reports checked against what the clients saw. Every process is stopped by PID.
 */
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { startHaproxy, type RunningHaproxy } from '../support/haproxy.js';
import { PROMTOOL, startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { until } from '../support/until.js';
import {
  blockingPolicy,
  closeAgent,
  request,
  startMaster,
  startSlave,
  startUpstream,
  type MasterProc,
  type SlaveProc,
  type Upstream,
} from './cluster-processes.js';

jest.setTimeout(90_000);

let secrets: ClusterSecrets;
let upstream: Upstream;
let master: MasterProc;
let slaves: SlaveProc[] = [];
let haproxy: RunningHaproxy | undefined;
let prometheus: RunningPrometheus | undefined;
const from = Date.now() - 60_000;

beforeAll(async () => {
  secrets = clusterSecrets('gateway');
  upstream = await startUpstream();
  master = await startMaster(secrets);
  const put = await admin('/policy', { method: 'PUT', body: blockingPolicy('blocked') });
  expect(put.status).toBe(201);
  slaves = await Promise.all(
    ['s1', 's2'].map((name) =>
      startSlave(secrets, { name, masterUrl: master.url, extra: ['--proxy-protocol-from', '127.0.0.1/32'] }),
    ),
  );
  await until('both slaves on the policy', async () => {
    const entries = (await admin('/slaves')).json as { name: string; policyHash: string }[];
    return entries.filter((e) => e.policyHash === put.json.hash).length === 2 || undefined;
  });
  haproxy = await startHaproxy(
    slaves.map((s) => ({ name: s.name, port: s.port, checkPort: s.metricsPort })),
    { sendProxy: 'v2' },
  );
  await until(
    'haproxy sees both slaves ready',
    async () => (await haproxy!.serverState('s1')) === 'UP' && (await haproxy!.serverState('s2')) === 'UP',
  );
  prometheus = await startPrometheus([
    { job: 'safesquid-master', targets: [`127.0.0.1:${master.port}`] },
    { job: 'safesquid-slave', targets: slaves.map((s) => `127.0.0.1:${s.metricsPort}`) },
  ]);
});

afterAll(async () => {
  await Promise.all([
    prometheus?.stop(),
    haproxy?.stop(),
    ...slaves.map((s) => s.stop('SIGKILL')),
    master?.stop('SIGKILL'),
  ]);
  await upstream?.close();
  secrets?.remove();
  closeAgent();
});

function admin(path: string, o: Parameters<typeof request>[1] = {}) {
  return request(`${master.url}/api/v1${path}`, { token: secrets.adminToken, ...o });
}

/** Served counts per slave, as the clients saw them (the `Via` header names the slave that answered). */
const seen = new Map<string, { requests: number; blocked: number }>();

/** Clients on four loopback addresses: the slaves must see these, not HAProxy's 127.0.0.1. */
const CLIENTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'];
let sent = 0;

/** GET <upstream>/<path> through the gateway on a new connection (so HAProxy picks a slave for it). */
async function throughGateway(path: string): Promise<{ status: number; slave: string }> {
  const localAddress = CLIENTS[sent++ % CLIENTS.length];
  const r = await request(`http://127.0.0.1:${upstream.port}/${path}`, {
    proxyPort: haproxy!.port,
    headers: { connection: 'close' },
    localAddress,
  });
  const slave = /^1\.1 (\S+) \(safesquid\)$/.exec(String(r.headers.via ?? ''))?.[1];
  if (!slave) throw new Error(`answer ${r.status} without the slave's Via: ${JSON.stringify(r.headers)}`);
  const s = seen.get(slave) ?? { requests: 0, blocked: 0 };
  s.requests++;
  if (r.status === 403) s.blocked++;
  seen.set(slave, s);
  return { status: r.status, slave };
}

/** What each side holds, for a failure to show where requests or records went missing. */
async function state(): Promise<string> {
  const counters = await Promise.all(
    slaves.map(async (s) => {
      const text = await request(`http://127.0.0.1:${s.metricsPort}/metrics`).then(
        (r) => r.text,
        (e: Error) => e.message,
      );
      const lines = text.split('\n').filter((l) => /^safesquid_(proxy_requests_total|report_)/.test(l));
      return `${s.name} (${s.running() ? 'running' : s.exitDescription()}):\n  ${lines.join('\n  ')}\n  log tail:\n${s.outputTail(15)}`;
    }),
  );
  const reports = await Promise.all([stored(), perSlave()]).catch((e: Error) => e.message);
  return [
    `clients saw: ${JSON.stringify(Object.fromEntries(seen))}`,
    `master reports (summary, per slave): ${JSON.stringify(reports)}`,
    ...counters,
    `master log tail:\n${master.outputTail(15)}`,
  ].join('\n');
}

/** `until`, failing with the state of every process instead of just the time it waited. */
async function untilExplained(
  what: string,
  probe: () => Promise<true | undefined>,
  timeoutMs: number,
  intervalMs?: number,
) {
  try {
    await until(what, probe, timeoutMs, intervalMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await state()}`);
  }
}

const total = () => [...seen.values()].reduce((n, s) => n + s.requests, 0);

async function stored(): Promise<number> {
  const r = await admin(`/reports/summary?from=${from}&to=${Date.now() + 60_000}`);
  return r.json.requests as number;
}

async function perSlave(): Promise<Record<string, { requests: number; blocked: number }>> {
  const rows = (await admin(`/reports/per-slave?from=${from}&to=${Date.now() + 60_000}`)).json as {
    slave: string;
    requests: number;
    blocked: number;
  }[];
  return Object.fromEntries(rows.map((r) => [r.slave, { requests: r.requests, blocked: r.blocked }]));
}

it('leaves no request and no record for clients that connect to the gateway and leave at once', async () => {
  // HAProxy connects to a slave for each, and sends the PROXY header or resets the connection
  // before the slave accepts it: neither is a request.
  for (let i = 0; i < 300; i++) {
    await new Promise<void>((resolve) => {
      const c = createConnection(
        { port: haproxy!.port, host: '127.0.0.1', localAddress: CLIENTS[i % CLIENTS.length] },
        () => {
          c.destroy();
          resolve();
        },
      );
      c.on('error', () => resolve());
    });
  }
  // Past the slaves' 1 s report flush, so a stray record would have reached the master.
  await new Promise((r) => setTimeout(r, 1500));
  const counted = await Promise.all(
    slaves.map(
      async (s) =>
        /^safesquid_proxy_requests_total\{action="deny"\} (\d+)$/m.exec(
          (await request(`http://127.0.0.1:${s.metricsPort}/metrics`)).text,
        )?.[1],
    ),
  );
  expect({ counted, stored: await stored() }).toEqual({ counted: ['0', '0'], stored: 0 });
});

it('spreads connections over both slaves, each enforcing the policy, and the unified reports hold every request once, by slave', async () => {
  for (let i = 0; i < 40; i++) {
    // Every third: round robin alternates the slaves, so each gets blocked requests too.
    const blocked = i % 3 === 2;
    expect((await throughGateway(`${blocked ? 'blocked' : 'ok'}/${i}`)).status).toBe(blocked ? 403 : 200);
  }
  // Round robin per connection: both slaves served, and both enforced the deny rule.
  expect([...seen.keys()].sort()).toEqual(['s1', 's2']);
  for (const s of seen.values()) {
    expect(s.requests).toBeGreaterThanOrEqual(15);
    expect(s.blocked).toBeGreaterThan(0);
  }
  await untilExplained(
    "every request in the master's reports",
    async () => (await stored()) === 40 || undefined,
    15_000,
  );
  expect(await perSlave()).toEqual(Object.fromEntries(seen));
  // The clients' own addresses, carried through HAProxy by the PROXY protocol.
  const records = (await admin(`/reports/search?from=${from}&to=${Date.now() + 60_000}&limit=1000`)).json.records as {
    client: string;
    slave: string;
  }[];
  expect(records).toHaveLength(40);
  expect(new Set(records.map((r) => r.client))).toEqual(new Set(CLIENTS));
});

it('Prometheus scrapes the master and every slave, and their counters agree with the reports', async () => {
  const p = prometheus!;
  await until(
    'every target up',
    async () => {
      const up = await p.query('up');
      return (up.length === 3 && up.every((s) => s.value === 1)) || undefined;
    },
    20_000,
    200,
  );
  const requests = total();
  // Each slave counted what it served; the master counted what it stored.
  await untilExplained(
    "the slaves' request counters scraped",
    async () => {
      const byInstance = await p.query('sum by (instance) (safesquid_proxy_requests_total)');
      const counted = Object.fromEntries(byInstance.map((s) => [s.metric.instance, s.value]));
      return slaves.every((s) => counted[`127.0.0.1:${s.metricsPort}`] === seen.get(s.name)?.requests) || undefined;
    },
    20_000,
    200,
  );
  await until(
    "the master's ingested records scraped",
    async () => {
      const ingested = await p.query('safesquid_report_ingested_records_total{job="safesquid-master"}');
      return ingested[0]?.value === requests || undefined;
    },
    20_000,
    200,
  );
  const sent = await p.query('sum(safesquid_report_records_sent_total)');
  expect(sent[0].value).toBe(requests);
  const dropped = await p.query('sum(safesquid_report_records_dropped_total)');
  expect(dropped[0].value).toBe(0);

  // What it scraped passes promtool's lint, but for three gauges of prom-client's default Node.js
  // metrics, whose names (…_active_handles_total) are prom-client's, not ours.
  const promClientNames =
    /^(\S+_)?nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
  for (const url of [`${master.url}/metrics`, ...slaves.map((s) => `http://127.0.0.1:${s.metricsPort}/metrics`)]) {
    const text = (await request(url)).text;
    const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.error).toBeUndefined();
    const problems = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() && !promClientNames.test(l));
    expect({ url, problems }).toEqual({ url, problems: [] });
  }
});

it('a slave drained at the load balancer and stopped loses no request and no record', async () => {
  // Records s1 still holds when it is told to stop: its last batch goes out on SIGTERM.
  for (let i = 0; i < 10; i++) expect((await throughGateway(`ok/last-${i}`)).status).toBe(200);
  const before = new Map([...seen].map(([k, v]) => [k, { ...v }]));
  expect(await haproxy!.command('set server slaves/s1 state drain')).toBe('');
  await until('s1 draining', async () => (await haproxy!.serverState('s1')) === 'DRAIN');
  for (let i = 0; i < 4; i++) expect(await throughGateway(`ok/drain-${i}`)).toEqual({ status: 200, slave: 's2' });
  const s1 = slaves[0];
  expect(await s1.stop()).toBe(0);

  await until('haproxy sees s1 down', async () => (await haproxy!.serverState('s1')) !== 'UP', 10_000);
  for (let i = 0; i < 10; i++) expect(await throughGateway(`blocked/after-${i}`)).toEqual({ status: 403, slave: 's2' });
  expect(seen.get('s1')).toEqual(before.get('s1'));
  expect(seen.get('s2')!.requests).toBe(before.get('s2')!.requests + 14);
  await untilExplained('every request in the reports', async () => (await stored()) === total() || undefined, 15_000);
  expect(await perSlave()).toEqual(Object.fromEntries(seen));
});
