/**
 * The Grafana dashboard against a real Prometheus: a real master and two slaves on loopback under
 * traffic (allowed and denied requests, tunnels, a malformed request), scraped every second, and
 * every panel's query sent to Prometheus's HTTP API as Grafana would send it (variables set to
 * "All"). Each must parse and return data with finite values; the operator's panels, with no
 * operator running here, must parse and read only metrics the operator's source declares (they
 * return data from the real operator in operator-panels.cluster.test.ts).
 * Every process is stopped by PID.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { until } from '../support/until.js';
import {
  closeAgent,
  request,
  startMaster,
  startSlave,
  startUpstream,
  type MasterProc,
  type SlaveProc,
  type Upstream,
} from '../integration/cluster-processes.js';
import { REPO, dashboardQueries, expandVariables, metricNames } from './monitoring-files.js';

jest.setTimeout(90_000);

/** What `$__rate_interval` stands for: Grafana's is 4 scrape intervals or more; this holds the whole test's traffic. */
const WINDOW = '5m';

let secrets: ClusterSecrets;
let upstream: Upstream;
let master: MasterProc;
let slaves: SlaveProc[] = [];
let prometheus: RunningPrometheus | undefined;

function policy(connectPort: number): string {
  return `rules:
  - name: block-blocked
    action: deny
    message: blocked
    match: {urlRegex: "^/blocked"}
accessRestriction:
  defaultAction: allow
  connectPorts: [${connectPort}]
  ssrf: {allowRanges: [127.0.0.0/8]}
`;
}

beforeAll(async () => {
  secrets = clusterSecrets('dashboard');
  upstream = await startUpstream();
  master = await startMaster(secrets);
  const put = await request(`${master.url}/api/v1/policy`, {
    method: 'PUT',
    token: secrets.adminToken,
    body: policy(upstream.port),
  });
  expect(put.status).toBe(201);
  slaves = await Promise.all(['s1', 's2'].map((name) => startSlave(secrets, { name, masterUrl: master.url })));
  await until(
    'both slaves on the policy',
    async () => {
      const entries = (await request(`${master.url}/api/v1/slaves`, { token: secrets.adminToken })).json as {
        policyHash: string;
      }[];
      return entries.filter((e) => e.policyHash === put.json.hash).length === 2 || undefined;
    },
    20_000,
    100,
  );
  prometheus = await startPrometheus([
    { job: 'safesquid-master', targets: [`127.0.0.1:${master.port}`] },
    { job: 'safesquid-slave', targets: slaves.map((s) => `127.0.0.1:${s.metricsPort}`) },
  ]);
});

afterAll(async () => {
  await Promise.all([prometheus?.stop(), ...slaves.map((s) => s.stop('SIGKILL')), master?.stop('SIGKILL')]);
  await upstream?.close();
  secrets?.remove();
  closeAgent();
});

/** Writes `lines` to the slave on a new connection and returns everything it answers until it closes. */
function raw(slave: SlaveProc, send: (socket: net.Socket, received: () => string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = net.createConnection({ host: '127.0.0.1', port: slave.port }, () => send(s, () => text));
    s.setTimeout(10_000, () =>
      s.destroy(new Error(`slave ${slave.name}: no answer within 10 s; got ${JSON.stringify(text)}`)),
    );
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(text));
  });
}

/** A CONNECT tunnel to the upstream, one GET through it, then the tunnel closes. */
async function tunnel(slave: SlaveProc, port: number): Promise<string> {
  return raw(slave, (s, received) => {
    s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    let sent = false;
    s.on('data', () => {
      if (sent || !received().includes('\r\n\r\n')) return;
      sent = true;
      if (!received().startsWith('HTTP/1.1 200')) return void s.end();
      s.write('GET /through-tunnel HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n');
    });
  });
}

/** What the operator's TypeScript source says, to check its panels name metrics it declares. */
function operatorSource(): string {
  const texts: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) texts.push(readFileSync(p, 'utf8'));
    }
  };
  walk(join(REPO, 'operator/src'));
  return texts.join('\n');
}

it('every panel query parses and returns data from a real master and two slaves under traffic', async () => {
  const p = prometheus!;
  // Samples from before the traffic, so rates over the window see it arrive.
  await until(
    'every target scraped twice',
    async () => {
      const scrapes = await p.query('count_over_time(up[5m])');
      return (scrapes.length === 3 && scrapes.every((s) => s.value >= 2)) || undefined;
    },
    30_000,
    250,
  );
  let http = 0;
  for (const slave of slaves) {
    for (let i = 0; i < 10; i++) {
      const blocked = i % 3 === 2;
      const r = await request(`http://127.0.0.1:${upstream.port}/${blocked ? 'blocked' : 'ok'}/${i}`, {
        proxyPort: slave.port,
      });
      expect(r.status).toBe(blocked ? 403 : 200);
      http++;
    }
    for (let i = 0; i < 3; i++)
      expect(await tunnel(slave, upstream.port)).toMatch(
        /^HTTP\/1\.1 200[^]*\r\n\r\nHTTP\/1\.1 200 OK[^]*ok \/through-tunnel/,
      );
    // A port the policy does not open for CONNECT: a denied tunnel.
    expect(await tunnel(slave, 25)).toMatch(/^HTTP\/1\.1 403/);
    // Not HTTP: refused before policy.
    expect(await raw(slave, (s) => s.write('NOT HTTP AT ALL\r\n\r\n'))).toMatch(/^HTTP\/1\.1 400/);
  }
  let seen = {};
  await until(
    'Prometheus has scraped the traffic and the master the records',
    async () => {
      const [requests, tunnels, ingested, batchScrapes] = await Promise.all(
        [
          'sum(safesquid_proxy_requests_total)',
          'sum(safesquid_proxy_tunnels_total)',
          'sum(safesquid_report_ingested_records_total)',
          // A labelled series appears with its first batch: a rate needs it scraped twice.
          'count_over_time(safesquid_report_ingested_batches_total{result="inserted"}[5m])',
        ].map((q) => p.query(q)),
      );
      seen = {
        requests: requests[0]?.value,
        tunnels: tunnels[0]?.value,
        ingested: ingested[0]?.value,
        batchScrapes: batchScrapes[0]?.value,
      };
      // The malformed requests count as requests too (refused, one per slave).
      return (
        (requests[0]?.value === http + slaves.length &&
          tunnels[0]?.value === 8 &&
          (ingested[0]?.value ?? 0) >= http &&
          (batchScrapes[0]?.value ?? 0) >= 2) ||
        undefined
      );
    },
    30_000,
    250,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; expected ${http + slaves.length} requests, 8 tunnels, ${http}+ records; Prometheus has ${JSON.stringify(seen)}`,
    );
  });

  const queries = dashboardQueries();
  expect(queries.length).toBeGreaterThanOrEqual(20);
  const problems: string[] = [];
  const operatorQueries = queries.filter((q) => metricNames(q.expr).some((m) => m.startsWith('safesquid_operator_')));
  for (const q of queries) {
    const what = `"${q.panel}" ${q.refId}: ${q.expr}`;
    const samples = await p.query(expandVariables(q.expr, WINDOW)).catch((err: Error) => {
      problems.push(`${what}: ${err.message}`);
      return undefined;
    });
    if (samples === undefined || operatorQueries.includes(q)) continue;
    if (samples.length === 0) problems.push(`${what}: no data`);
    else if (samples.some((s) => !Number.isFinite(s.value))) problems.push(`${what}: ${JSON.stringify(samples)}`);
  }
  expect(problems).toEqual([]);

  // The per-slave panels show both slaves.
  const perSlave = await p.query(expandVariables(queries.find((q) => q.panel === 'Requests per slave')!.expr, WINDOW));
  expect(perSlave.map((s) => s.metric.instance).sort()).toEqual(slaves.map((s) => `127.0.0.1:${s.metricsPort}`).sort());
  const hashes = await p.query(
    expandVariables(queries.find((q) => q.panel === 'Policy hash per slave' && q.refId === 'A')!.expr, WINDOW),
  );
  expect(new Set(hashes.map((s) => s.metric.hash)).size).toBe(1);

  // No operator runs here: its panels name metrics its source declares.
  expect(operatorQueries.length).toBeGreaterThan(0);
  const source = operatorSource();
  const undeclared = operatorQueries.flatMap((q) =>
    metricNames(q.expr).filter((m) => !source.includes(`'${m.replace(/_bucket$/, '')}'`)),
  );
  expect(undeclared).toEqual([]);
});
