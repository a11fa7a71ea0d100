/**
 * Statistics, log lines and the status page of a real slave process against a real master
 * process: what the master shows per slave must equal the traffic sent through the slave, the
 * slave's warnings must reach the master rate-limited, and the slave's /status must follow a
 * policy change and a master outage. Every process is stopped by PID.
 */
import { createConnection } from 'node:net';
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
let slave: SlaveProc;
let policyHash: string;
/** The slave's own stderr lines. */
const slaveLines: string[] = [];
const PROXY_PROTOCOL_WARNING = 'closed a connection from a PROXY protocol load balancer: no valid header';

interface StatsView {
  counters: Record<string, number>;
  gauges: Record<string, number>;
  history: Record<string, number>[];
  logs: { time: string; level: string; msg: string; detail?: string; suppressedBefore?: number }[];
}

interface Status {
  name: string;
  policy: { hash: string | null; source: string | null };
  master: { url: string; reachable: boolean; lastSyncAt: string | null } | null;
  events: { time: string; kind: string; detail: string }[];
  counters: Record<string, number>;
}

const admin = (path: string, o: Parameters<typeof request>[1] = {}) =>
  request(`${master.url}/api/v1${path}`, { token: secrets.adminToken, ...o });

async function stats(): Promise<StatsView | undefined> {
  const r = await admin('/slaves/s1/stats');
  return r.status === 200 ? (r.json as StatsView) : undefined;
}

async function status(): Promise<Status> {
  const r = await request(`http://127.0.0.1:${slave.metricsPort}/status.json`);
  expect(r.status).toBe(200);
  return r.json as Status;
}

beforeAll(async () => {
  secrets = clusterSecrets('slave-stats');
  upstream = await startUpstream();
  master = await startMaster(secrets);
  const put = await admin('/policy', { method: 'PUT', body: blockingPolicy('blocked') });
  expect(put.status).toBe(201);
  policyHash = put.json.hash as string;
  // Connections from 127.0.0.2 must start with a PROXY protocol header: a way to make the
  // slave log warnings on demand.
  slave = await startSlave(secrets, {
    name: 's1',
    masterUrl: master.url,
    extra: ['--proxy-protocol-from', '127.0.0.2/32'],
  });
  slave.onLine((l) => slaveLines.push(l));
  await until('the slave on the policy', async () => (await status()).policy.hash === policyHash || undefined);
});

afterAll(async () => {
  await slave?.stop();
  await master?.stop();
  await upstream?.close();
  secrets?.remove();
  closeAgent();
});

test("the master's per-slave statistics equal the traffic sent through the slave", async () => {
  const allowed = 30;
  const denied = 12;
  let bodyBytes = 0;
  for (let i = 0; i < allowed; i++) {
    const r = await request(`http://127.0.0.1:${upstream.port}/ok/${i}`, { proxyPort: slave.port });
    expect(r.status).toBe(200);
    bodyBytes += Buffer.byteLength(r.text);
  }
  for (let i = 0; i < denied; i++) {
    const r = await request(`http://127.0.0.1:${upstream.port}/blocked/${i}`, { proxyPort: slave.port });
    expect(r.status).toBe(403);
  }
  // Posted every 5 s: the numbers settle once every record is acknowledged too.
  const view = await until(
    'statistics with every request and record',
    async () => {
      const v = await stats();
      return v && v.counters.requests === allowed + denied && v.counters.recordsSent === allowed + denied
        ? v
        : undefined;
    },
    20_000,
    250,
  );
  expect(view.counters).toMatchObject({ requests: 42, denies: denied, tunnels: 0, errors: 0, recordsDropped: 0 });
  // Down: the upstream's answers (headers and bodies) to the allowed requests; block pages are the slave's own.
  expect(view.counters.bytesDown).toBeGreaterThanOrEqual(bodyBytes);
  expect(view.gauges.rssBytes).toBeGreaterThan(10e6);
  expect(view.gauges.spoolBatches).toBe(0);
  expect(view.history.length).toBeGreaterThanOrEqual(2);
  // The slave's own page says the same.
  const s = await status();
  expect(s.counters).toMatchObject({ requests: 42, denies: denied, recordsSent: 42 });
  expect(s.counters.bytesDown).toBe(view.counters.bytesDown);
});

/** Opens a connection from 127.0.0.2 that sends no PROXY protocol header; the slave closes it. */
const badBalancerConnection = () =>
  new Promise<void>((resolve, reject) => {
    const c = createConnection({ host: '127.0.0.1', port: slave.port, localAddress: '127.0.0.2' }, () =>
      c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    c.on('error', reject);
    c.on('close', () => resolve());
    c.resume();
  });

test("the slave's warnings reach the master, rate-limited, and the master says how many were held back", async () => {
  const sent = 30;
  for (let i = 0; i < sent; i++) await badBalancerConnection();
  // The slave's own log has them (its own throttle lets at most 20 per 10 s through).
  const logged = await until('the warnings in the slave log', () => {
    const n = slaveLines.filter((l) => l.includes(PROXY_PROTOCOL_WARNING)).length;
    return n > 0 ? n : undefined;
  });
  const view = await until(
    'the warnings at the master',
    async () => {
      const v = await stats();
      return v?.logs.some((l) => l.msg === PROXY_PROTOCOL_WARNING) && v.counters.logLinesDropped > 0 ? v : undefined;
    },
    20_000,
    250,
  );
  const arrived = view.logs.filter((l) => l.msg === PROXY_PROTOCOL_WARNING);
  // 10 per 10 s window reach the master: fewer than the slave logged; the rest are counted.
  expect(logged).toBeGreaterThan(10);
  expect(arrived.length).toBeLessThan(logged);
  expect(arrived.length).toBeLessThanOrEqual(20);
  expect(view.counters.logLinesDropped).toBeGreaterThanOrEqual(logged - arrived.length);
  expect(arrived[0]).toMatchObject({ level: 'warn' });
  expect(arrived[0].detail).toContain('"balancer":"127.0.0.2"');
  // The next line after the window says how many were held back.
  await new Promise((r) => setTimeout(r, 10_500));
  await badBalancerConnection();
  const after = await until(
    'a line that says how many were held back',
    async () => (await stats())?.logs.find((l) => (l.suppressedBefore ?? 0) > 0),
    20_000,
    250,
  );
  expect(after.suppressedBefore).toBeGreaterThan(0);
  // Each refused connection is an access record (host '-'); the master stores them all.
  const shipped = await until(
    'the refused connections reported',
    async () => {
      const v = await stats();
      return v && v.counters.recordsSent + v.counters.recordsDropped >= 42 + sent + 1 ? v : undefined;
    },
    20_000,
    250,
  );
  expect(shipped.counters.recordsDropped).toBe(0);
});

test("the slave's /status follows a policy change and a master outage, and its warnings arrive afterwards", async () => {
  let s = await status();
  expect(s.name).toBe('s1');
  expect(s.policy).toMatchObject({ hash: policyHash, source: 'master' });
  expect(s.master).toMatchObject({ url: master.url, reachable: true });
  expect(s.master!.lastSyncAt).not.toBeNull();

  const put = await admin('/policy', { method: 'PUT', body: blockingPolicy('forbidden') });
  expect(put.status).toBe(201);
  const changed = put.json.hash as string;
  s = await until('the new policy on /status', async () => {
    const v = await status();
    return v.policy.hash === changed ? v : undefined;
  });
  expect(s.policy.source).toBe('master');
  expect(s.events.some((e) => e.kind === 'applied' && e.detail.includes(changed))).toBe(true);

  // The master goes away: the slave says so, and keeps enforcing the policy it has.
  const port = master.port;
  await master.stop();
  s = await until('the outage on /status', async () => {
    const v = await status();
    return v.master?.reachable === false ? v : undefined;
  });
  expect(s.policy.hash).toBe(changed);
  expect(s.events.at(-1)).toMatchObject({ kind: 'unreachable' });
  const page = await request(`http://127.0.0.1:${slave.metricsPort}/status`);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.text).toContain('no: enforcing the last policy');

  // Back on the same port and data directory: the slave recovers and delivers the warning it logged meanwhile.
  master = await startMaster(secrets, { port });
  s = await until(
    'recovery on /status',
    async () => {
      const v = await status();
      return v.master?.reachable ? v : undefined;
    },
    20_000,
    100,
  );
  expect(s.events.some((e) => e.kind === 'recovered')).toBe(true);
  const view = await until(
    'the outage warning at the master',
    async () => {
      const v = await stats();
      return v?.logs.some((l) => l.msg.startsWith('master unreachable')) ? v : undefined;
    },
    20_000,
    250,
  );
  expect(view.logs.find((l) => l.msg.startsWith('master unreachable'))!.level).toBe('warn');
});

test('with --workers 2 the primary serves /status for the whole slave, and the master sums the workers', async () => {
  const hash = (await admin('/cluster')).json.policy.hash as string;
  const w = await startSlave(secrets, { name: 'w2', masterUrl: master.url, extra: ['--workers', '2'] });
  try {
    const statusOf = async () =>
      (await request(`http://127.0.0.1:${w.metricsPort}/status.json`)).json as Status & {
        workers?: { count: number; policyHashes: string[] };
      };
    await until(
      'both workers on the policy',
      async () => {
        const s = await statusOf();
        return s?.workers?.count === 2 && s.workers.policyHashes.every((h) => h === hash) && s.policy.hash === hash;
      },
      20_000,
      100,
    );
    const sent = 20;
    // New connections each: the primary deals them out to both workers.
    for (let i = 0; i < sent; i++) {
      const r = await request(`http://127.0.0.1:${upstream.port}/w/${i}`, {
        proxyPort: w.port,
        headers: { connection: 'close' },
      });
      expect(r.status).toBe(200);
    }
    const s = await until('the requests on the primary /status', async () => {
      const v = await statusOf();
      return v.counters.requests === sent ? v : undefined;
    });
    expect(s).toMatchObject({ name: 'w2', policy: { hash, source: 'master' }, master: { reachable: true } });
    const view = await until(
      'the requests at the master, summed over the workers',
      async () => {
        const r = await admin('/slaves/w2/stats');
        return r.status === 200 && r.json.counters.requests === sent ? r.json : undefined;
      },
      20_000,
      250,
    );
    expect(view.processes.map((p: { process: string }) => p.process).sort()).toEqual(['worker-1', 'worker-2']);
  } finally {
    await w.stop();
  }
});
