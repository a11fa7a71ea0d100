import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { compilePolicyBundle, parsePolicyDocuments } from '../policy/index.js';
import { createEngineCompiler } from '../portal/policy-compiler.js';
import { startMaster, type RunningMaster } from '../portal/master.js';
import { ActivePolicy } from '../slave/active-policy.js';
import { startPolicySync } from './policy-client.js';

const logger = pino({ level: 'silent' });
const TOKEN = 'sync-test-token';
const text = (host: string) =>
  `rules:\n  - {name: block, action: deny, match: {domains: [${host}]}}\naccessRestriction: {defaultAction: allow}\n`;
const bundleFor = (host: string) => compilePolicyBundle(parsePolicyDocuments(text(host), `${host}.yaml`));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sync-test-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function master(dataDir: string, port = 0): Promise<RunningMaster> {
  const m = await startMaster({
    host: '127.0.0.1',
    port,
    dataDir,
    clusterToken: TOKEN,
    admin: { username: 'admin', password: 'pw' },
    allow: ['127.0.0.0/8'],
    compiler: createEngineCompiler(),
    defaultPolicy: { text: text('first.example'), origin: 'test' },
    logger,
  });
  cleanups.push(() => m.close());
  return m;
}

function slave(masterUrl: string, over: Partial<Parameters<typeof startPolicySync>[0]> = {}) {
  const activePolicy = new ActivePolicy({ stateDir: tmp(), logger });
  const registry = new Registry();
  const sync = startPolicySync({
    masterUrl,
    token: TOKEN,
    slaveName: 'slave-1',
    activePolicy,
    logger,
    registry,
    backoff: { initialMs: 50, maxMs: 200 },
    ...over,
  });
  cleanups.push(async () => {
    sync.stop();
    await sync.closed;
  });
  return { activePolicy, registry, sync };
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('startPolicySync', () => {
  it('applies the master policy, follows changes live and reports its events', async () => {
    const m = await master(tmp());
    const { activePolicy } = slave(m.url);
    await until('first policy', () => activePolicy.hash === m.hub.current!.hash);

    const createdAt = Date.now();
    const next = createEngineCompiler().compileText(text('second.example'), 't');
    m.hub.set({ hash: next.hash, bundle: next.bundle, source: 'store' });
    await until('second policy', () => activePolicy.hash === next.hash, 2000);
    expect(Date.now() - createdAt).toBeLessThan(1000);

    const entry = await until('registry shows the new hash', () => {
      const e = m.slaves.list(next.hash)[0];
      return e?.inSync && e.events.filter((ev) => ev.kind === 'applied').length === 2 ? e : undefined;
    });
    expect(entry.name).toBe('slave-1');
    expect(entry.state).toBe('online');
  });

  it("counts a persisted policy the master answers unchanged as the master's", async () => {
    const m = await master(tmp());
    const stateDir = tmp();
    const synced = new ActivePolicy({ stateDir, logger });
    const first = slave(m.url, { activePolicy: synced });
    await until('first policy', () => synced.hash === m.hub.current!.hash);
    first.sync.stop();
    await first.sync.closed;

    // A restarted slave (or another worker on the same state directory) starts on the persisted bundle.
    const restarted = new ActivePolicy({ stateDir, logger });
    expect(restarted.loadPersisted()).toBe(true);
    expect(restarted.currentSource).toBe('state');
    const polls = new Registry();
    slave(m.url, { activePolicy: restarted, registry: polls });
    await until('the master to confirm it', () => restarted.currentSource === 'master');
    expect(restarted.hash).toBe(m.hub.current!.hash);
    expect(await polls.getSingleMetricAsString('safesquid_sync_polls_total')).toMatch(/result="unchanged"} [1-9]/);
  });

  it('keeps enforcing while the master is away, then reports unreachable and recovered', async () => {
    const dataDir = tmp();
    const m1 = await master(dataDir);
    const port = m1.port;
    const { activePolicy, registry, sync } = slave(m1.url);
    await until('first policy', () => activePolicy.hash === m1.hub.current!.hash);
    const hash = activePolicy.hash;
    await m1.close();
    await until('unreachable', () => !sync.masterReachable);
    await new Promise((r) => setTimeout(r, 300));
    expect(activePolicy.hash).toBe(hash);
    expect(await registry.getSingleMetricAsString('safesquid_sync_master_reachable')).toMatch(/ 0$/m);

    const m2 = await master(dataDir, port);
    const entry = await until('recovered event', () => {
      const e = m2.slaves.list(m2.hub.current!.hash)[0];
      return e?.events.some((ev) => ev.kind === 'recovered') ? e : undefined;
    });
    // Events are delivered at least once: the first "applied" may arrive again after the outage.
    expect(entry.events.map((e) => e.kind).filter((k) => k !== 'applied')).toEqual(['unreachable', 'recovered']);
    expect(entry.events.find((e) => e.kind === 'unreachable')!.detail).toMatch(
      /ECONNRESET|ECONNREFUSED|other side closed|the master is shutting down/,
    );
    expect(entry.inSync).toBe(true);
  });

  it('refuses a bundle it cannot load, keeps the old one and says why', async () => {
    const good = bundleFor('good.example');
    let serveBad = false;
    const events: { kind: string; detail: string }[] = [];
    const server: Server = createServer((req, res) => {
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c));
        req.on('end', () => {
          events.push(JSON.parse(body));
          res.writeHead(202).end('{}');
        });
        return;
      }
      const bundle = serveBad ? { ...good, hash: 'sha256:' + '0'.repeat(64) } : good;
      if (req.headers['if-none-match'] === `"${bundle.hash}"`) {
        setTimeout(() => res.writeHead(304).end(), 100);
        return;
      }
      res.writeHead(200, { etag: `"${bundle.hash}"`, 'content-type': 'application/json' }).end(JSON.stringify(bundle));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const { activePolicy, registry } = slave(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await until('good policy', () => activePolicy.hash === good.hash);
    serveBad = true;
    await until('refused event', () => events.some((e) => e.kind === 'refused'));
    expect(activePolicy.hash).toBe(good.hash);
    expect(events.find((e) => e.kind === 'refused')!.detail).toMatch(/hash mismatch/);
    expect(await registry.getSingleMetricAsString('safesquid_sync_policy_refused_total')).toMatch(/ 1$/m);
  });

  it('falls back to the mounted bundle file when the master is unreachable and the file is newer', async () => {
    const dir = tmp();
    const file = join(dir, 'bundle.json');
    const { activePolicy } = slave('http://127.0.0.1:1', { fallbackBundleFile: file });
    await new Promise((r) => setTimeout(r, 100));
    expect(activePolicy.hash).toBeUndefined();
    const b = bundleFor('fallback.example');
    writeFileSync(file, JSON.stringify(b));
    await until('fallback policy', () => activePolicy.hash === b.hash);
    expect(activePolicy.currentSource).toBe('file');

    // PolicySet documents work too; a file that does not load is refused and changes nothing.
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(file, 'rules: [{name: broken, action: explode}]\n');
    await new Promise((r) => setTimeout(r, 400));
    expect(activePolicy.hash).toBe(b.hash);
    writeFileSync(file, text('yaml.example'));
    const fromYaml = compilePolicyBundle(parsePolicyDocuments(text('yaml.example'), file));
    await until('YAML fallback policy', () => activePolicy.hash === fromYaml.hash);
  });

  it('does not apply anything when the master refuses its token', async () => {
    const m = await master(tmp());
    const { activePolicy, registry } = slave(m.url, { token: 'wrong' });
    let metric = '';
    const end = Date.now() + 3000;
    while (!/result="denied"} [2-9]/.test(metric) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      metric = await registry.getSingleMetricAsString('safesquid_sync_polls_total');
    }
    expect(metric).toMatch(/result="denied"} [2-9]/);
    expect(activePolicy.hash).toBeUndefined();
    expect(m.slaves.list(undefined)).toEqual([]);
  });
});
