import pino from 'pino';
import { Registry } from 'prom-client';
import { ActivePolicy } from './active-policy.js';
import { MetricsServer } from './metrics-server.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { mergeWorkerStatuses, SlaveStatusBoard, type SlaveStatus } from './slave-status.js';
import { renderStatusPage } from './status-page.js';
import { compilePolicyBundle, parsePolicyDocuments } from '../policy/index.js';

const status = (over: Partial<SlaveStatus> = {}): SlaveStatus => ({
  name: 's1',
  version: '1.0.0',
  startedAt: '2026-01-01T00:00:00.000Z',
  now: '2026-01-01T00:01:00.000Z',
  policy: { hash: 'sha256:abc', source: 'last-known-good', since: '2026-01-01T00:00:00.000Z' },
  master: null,
  events: [],
  counters: {
    requests: 3,
    tunnels: 0,
    denies: 1,
    errors: 0,
    bytesUp: 0,
    bytesDown: 2048,
    activeConnections: 0,
    activeTunnels: 0,
    recordsSent: 0,
    recordsDropped: 0,
    queueRecords: 0,
    spoolBatches: 0,
    spoolBytes: 0,
    rssBytes: 1,
  },
  logs: [],
  ...over,
});

test('escapes every value it shows: a log line cannot put markup on the page', () => {
  const html = renderStatusPage(
    status({
      logs: [{ time: 't', level: 'error', msg: '<script>alert(1)</script>', detail: '{"a":"<img src=x>"}' }],
      events: [{ time: 't', kind: 'refused', detail: 'policy "x" & <b>' }],
    }),
  );
  expect(html).not.toContain('<script>alert');
  expect(html).not.toContain('<img');
  expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
  expect(html).toContain('policy &#34;x&#34; &#38; &#60;b&#62;');
  expect(html).toContain('<td id="policy-source">last-known-good</td>');
  expect(html).toContain('none (standalone: the policy file is the source)');
});

test('/status answers HTML, JSON by Accept, and /status.json; the board follows the policy and its source', async () => {
  const registry = new Registry();
  new ProxyMetrics(registry, undefined, { defaultMetrics: false });
  const active = new ActivePolicy({ logger: pino({ level: 'silent' }) });
  const board = new SlaveStatusBoard({ name: 's1', version: '9.9.9', registry, policy: active });
  const server = new MetricsServer({
    metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    readiness: () => ({ ready: true, detail: 'ready' }),
    status: () => board.status(),
  });
  const { port } = await server.listen('127.0.0.1', 0);
  try {
    const bundle = compilePolicyBundle(parsePolicyDocuments('rules: []\n', 'test.yaml'));
    active.apply(bundle, 'file');
    const json = (await (await fetch(`http://127.0.0.1:${port}/status.json`)).json()) as SlaveStatus;
    expect(json).toMatchObject({ name: 's1', version: '9.9.9', master: null });
    expect(json.policy).toMatchObject({ hash: bundle.hash, source: 'file' });
    expect(json.events).toEqual([
      expect.objectContaining({ kind: 'applied', detail: `policy ${bundle.hash} from file` }),
    ]);
    const negotiated = await fetch(`http://127.0.0.1:${port}/status`, { headers: { accept: 'application/json' } });
    expect(negotiated.headers.get('content-type')).toBe('application/json');
    const page = await fetch(`http://127.0.0.1:${port}/status`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain(`<td id="policy-hash">${bundle.hash}</td>`);
    board.attach({ url: 'http://m:8888', sync: { masterReachable: false } });
    const withMaster = (await (await fetch(`http://127.0.0.1:${port}/status.json`)).json()) as SlaveStatus;
    expect(withMaster.master).toEqual({
      url: 'http://m:8888',
      reachable: false,
      lastSyncAt: null,
      reportsReachable: false,
    });
  } finally {
    await server.close();
  }
});

test("a --workers primary's status: counters summed, the master reachable only if every worker reaches it", () => {
  const master = { url: 'http://m', reachable: true, lastSyncAt: null, reportsReachable: true };
  const a = status({ master, logs: [{ time: '2026-01-01T00:00:02.000Z', level: 'warn', msg: 'a' }] });
  const b = status({
    master: { ...master, reachable: false },
    policy: { ...a.policy, hash: 'sha256:new' },
    logs: [{ time: '2026-01-01T00:00:01.000Z', level: 'error', msg: 'b' }],
  });
  const m = mergeWorkerStatuses([a, b]);
  expect(m.counters.requests).toBe(6);
  expect(m.counters.bytesDown).toBe(4096);
  expect(m.master?.reachable).toBe(false);
  expect(m.logs.map((l) => l.msg)).toEqual(['b', 'a']);
  expect(m.workers).toEqual({ count: 2, policyHashes: ['sha256:abc', 'sha256:new'] });
  expect(renderStatusPage(m)).toContain('<td id="workers">2 (policy sha256:abc, sha256:new)</td>');
});
