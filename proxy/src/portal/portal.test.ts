import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { createEngineCompiler } from './policy-compiler.js';
import { startMaster, type MasterOptions, type RunningMaster } from './master.js';
import { openMasterReports } from './master-reports.js';
import { Registry } from 'prom-client';

const logger = pino({ level: 'silent' });
const CLUSTER = 'cluster-token-for-tests';
const ADMIN = 'admin-token-for-tests';

const policyText = (name: string, host: string) => `apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata: {name: ${name}}
spec:
  rules:
    - name: block-${name}
      action: deny
      match: {domains: [${host}]}
  accessRestriction: {defaultAction: allow}
`;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** Real HTTP to the portal, optionally from a chosen loopback address. */
function call(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: string;
    type?: string;
    headers?: Record<string, string>;
    localAddress?: string;
    cookie?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.cookie) headers.cookie = opts.cookie;
    if (opts.body !== undefined) headers['content-type'] = opts.type ?? 'application/yaml';
    const req = httpRequest(
      `${base}${path}`,
      { method, headers, localAddress: opts.localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const dirs: string[] = [];
const masters: RunningMaster[] = [];

async function master(over: Partial<MasterOptions> = {}): Promise<RunningMaster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portal-test-'));
  dirs.push(dataDir);
  const registry = new Registry();
  const reports = await openMasterReports({ dataDir, retentionDays: 30, logger, registry });
  const m = await startMaster({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    clusterToken: CLUSTER,
    adminToken: ADMIN,
    admin: { username: 'root', password: 'pw-123' },
    allow: ['127.0.0.0/8'],
    compiler: createEngineCompiler(),
    defaultPolicy: { text: policyText('default', 'blocked.example'), origin: 'test default' },
    reports,
    logger,
    registry,
    ...over,
  });
  masters.push(m);
  return m;
}

afterAll(async () => {
  await Promise.all(masters.map((m) => m.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('access restriction', () => {
  it("behind a trusted reverse proxy, applies the allow list to the client X-Forwarded-For names, and to nobody else's claim", async () => {
    const m = await master({ allow: ['10.1.2.0/24'], trustProxy: ['127.0.0.1/32'] });
    const viaIngress = await call(m.url, 'GET', '/api/v1/cluster', {
      token: ADMIN,
      localAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '10.1.2.3' },
    });
    expect(viaIngress.status).toBe(200);
    const outsider = await call(m.url, 'GET', '/api/v1/cluster', {
      token: ADMIN,
      localAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '10.1.2.3, 198.51.100.7' },
    });
    expect(outsider.status).toBe(403);
    expect(outsider.json.error).toBe("client address 198.51.100.7 is not in the portal's allow list");
    // From an address that is not the proxy, the header is the caller's own say: not believed.
    const spoofed = await call(m.url, 'GET', '/api/v1/cluster', {
      token: ADMIN,
      localAddress: '127.0.0.2',
      headers: { 'x-forwarded-for': '10.1.2.3' },
    });
    expect(spoofed.status).toBe(403);
    expect(spoofed.json.error).toBe("client address 127.0.0.2 is not in the portal's allow list");
  });

  it('refuses a client outside the allow list with 403 and a reason, and lets the allowed address in', async () => {
    const m = await master({ allow: ['127.0.0.2/32'] });
    const denied = await call(m.url, 'GET', '/api/v1/cluster', { token: ADMIN, localAddress: '127.0.0.1' });
    expect(denied.status).toBe(403);
    expect(denied.json.error).toBe("client address 127.0.0.1 is not in the portal's allow list");
    const metrics = await call(m.url, 'GET', '/metrics', { localAddress: '127.0.0.1' });
    expect(metrics.status).toBe(403);
    const allowed = await call(m.url, 'GET', '/api/v1/cluster', { token: ADMIN, localAddress: '127.0.0.2' });
    expect(allowed.status).toBe(200);
    // Probes stay open to the kubelet.
    expect((await call(m.url, 'GET', '/healthz', { localAddress: '127.0.0.1' })).status).toBe(200);
    const scraped = await call(m.url, 'GET', '/metrics', { localAddress: '127.0.0.2' });
    expect(scraped.text).toContain('safesquid_portal_access_denied_total{reason="address"} 2');
  });

  it('asks for credentials (401) and keeps slaves out of admin calls (403)', async () => {
    const m = await master();
    const none = await call(m.url, 'GET', '/api/v1/slaves');
    expect(none.status).toBe(401);
    expect(none.json.error).toMatch(/log in or present an admin bearer token/);
    const wrong = await call(m.url, 'GET', '/api/v1/policy/bundle', { token: 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe('the bearer token is not valid for this cluster');
    const slave = await call(m.url, 'GET', '/api/v1/policy', { token: CLUSTER });
    expect(slave.status).toBe(403);
    expect((await call(m.url, 'GET', '/api/v1/policy/bundle', { token: CLUSTER })).status).toBe(200);
    expect((await call(m.url, 'GET', '/api/v1/reports/summary', { token: CLUSTER })).status).toBe(403);
  });

  it('logs an administrator in with an HttpOnly, SameSite=Strict session cookie', async () => {
    const m = await master();
    const bad = await call(m.url, 'POST', '/api/v1/session', {
      body: JSON.stringify({ username: 'root', password: 'x' }),
      type: 'application/json',
    });
    expect(bad.status).toBe(401);
    const ok = await call(m.url, 'POST', '/api/v1/session', {
      body: JSON.stringify({ username: 'root', password: 'pw-123' }),
      type: 'application/json',
    });
    expect(ok.status).toBe(200);
    const setCookie = String(ok.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(';')[0];
    expect((await call(m.url, 'GET', '/api/v1/session', { cookie })).json).toEqual({ username: 'root' });
    expect((await call(m.url, 'GET', '/api/v1/cluster', { cookie })).status).toBe(200);
    expect((await call(m.url, 'DELETE', '/api/v1/session', { cookie })).status).toBe(204);
    expect((await call(m.url, 'GET', '/api/v1/session', { cookie })).status).toBe(401);
  });

  it('keeps a session across a master restart, and a sign-out too; the store holds no usable cookie', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portal-sessions-'));
    dirs.push(dataDir);
    const login = async (m: RunningMaster) =>
      String(
        (
          await call(m.url, 'POST', '/api/v1/session', {
            body: JSON.stringify({ username: 'root', password: 'pw-123' }),
            type: 'application/json',
          })
        ).headers['set-cookie'],
      ).split(';')[0];
    const first = await master({ dataDir });
    const kept = await login(first);
    const signedOut = await login(first);
    expect((await call(first.url, 'DELETE', '/api/v1/session', { cookie: signedOut })).status).toBe(204);
    await first.close();
    const stored = readFileSync(join(dataDir, 'sessions.db'));
    expect(stored.includes(kept.split('=')[1])).toBe(false);

    const second = await master({ dataDir });
    expect((await call(second.url, 'GET', '/api/v1/session', { cookie: kept })).json).toEqual({ username: 'root' });
    expect((await call(second.url, 'GET', '/api/v1/cluster', { cookie: kept })).status).toBe(200);
    expect((await call(second.url, 'GET', '/api/v1/session', { cookie: signedOut })).status).toBe(401);
  });
});

describe('admin login throttling (two clients over real HTTP)', () => {
  const login = (m: RunningMaster, password: string, localAddress: string) =>
    call(m.url, 'POST', '/api/v1/session', {
      body: JSON.stringify({ username: 'root', password }),
      type: 'application/json',
      localAddress,
    });

  it('makes a guessing address wait, while the owner from another address and bearer tokens get in', async () => {
    const m = await master({ loginThrottle: { freeFailures: 3, firstWaitMs: 60_000 } });
    const failed = await Promise.all(Array.from({ length: 4 }, () => login(m, 'guess', '127.0.0.3')));
    expect(failed.map((r) => r.status)).toEqual(Array(4).fill(401));
    // The guesser's next attempt is not even checked, right password or not.
    const waiting = await login(m, 'pw-123', '127.0.0.3');
    expect(waiting.status).toBe(429);
    expect(waiting.headers['retry-after']).toBe('60');
    expect(waiting.json.error).toBe('too many failed logins for "root" from 127.0.0.3; try again in 60 s');
    // The owner, from another address, is not locked out.
    const owner = await login(m, 'pw-123', '127.0.0.4');
    expect(owner.status).toBe(200);
    expect(owner.json).toEqual({ username: 'root' });
    // Bearer tokens do not log in and are not throttled, from the guessing address either.
    expect((await call(m.url, 'GET', '/api/v1/cluster', { token: ADMIN, localAddress: '127.0.0.3' })).status).toBe(200);
  });

  it('caps guesses spread over many addresses per minute, but lets the owner in from where they logged in before', async () => {
    const m = await master({ loginThrottle: { globalFailuresPerMinute: 5 } });
    expect((await login(m, 'pw-123', '127.0.0.5')).status).toBe(200);
    const spread = await Promise.all(Array.from({ length: 5 }, (_, i) => login(m, 'guess', `127.0.0.${10 + i}`)));
    expect(spread.map((r) => r.status)).toEqual(Array(5).fill(401));
    const capped = await login(m, 'guess', '127.0.0.15');
    expect(capped.status).toBe(429);
    expect(capped.json.error).toMatch(
      /^too many failed logins to this portal in the last minute .*; try again in \d+ s$/,
    );
    expect((await login(m, 'pw-123', '127.0.0.5')).status).toBe(200);
  });
});

describe('standalone policy', () => {
  it('validates, saves versions, diffs and rolls back', async () => {
    const m = await master();
    const first = await call(m.url, 'GET', '/api/v1/policy', { token: ADMIN });
    expect(first.json).toMatchObject({ editable: true, source: 'store' });
    expect(first.json.hash).toMatch(/^sha256:/);

    const invalid = await call(m.url, 'POST', '/api/v1/policy/validate', {
      token: ADMIN,
      body: 'spec:\n  rules:\n    - name: x\n      action: explode\n',
    });
    expect(invalid.status).toBe(422);
    expect(invalid.json.ok).toBe(false);
    expect(invalid.json.issues.length).toBeGreaterThan(0);
    expect(invalid.json.issues[0]).toHaveProperty('path');
    expect((await call(m.url, 'PUT', '/api/v1/policy', { token: ADMIN, body: 'rules: [' })).status).toBe(422);

    const valid = await call(m.url, 'POST', '/api/v1/policy/validate', {
      token: ADMIN,
      body: policyText('v2', 'two.example'),
    });
    expect(valid.json).toMatchObject({ ok: true, summary: { rules: 1 } });

    const saved = await call(m.url, 'PUT', '/api/v1/policy?comment=second', {
      token: ADMIN,
      body: policyText('v2', 'two.example'),
    });
    expect(saved.status).toBe(201);
    expect(saved.json).toEqual({ version: 2, hash: valid.json.hash });

    const versions = await call(m.url, 'GET', '/api/v1/policy/versions', { token: ADMIN });
    expect(versions.json.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(versions.json[0]).toMatchObject({ author: 'admin-token', comment: 'second' });

    const diff = await call(m.url, 'GET', '/api/v1/policy/versions/2/diff?against=1', { token: ADMIN });
    expect(diff.json.diff).toContain('-      match: {domains: [blocked.example]}');
    expect(diff.json.diff).toContain('+      match: {domains: [two.example]}');

    const rolled = await call(m.url, 'POST', '/api/v1/policy/versions/1/rollback', { token: ADMIN });
    expect(rolled.status).toBe(201);
    expect(rolled.json).toEqual({ version: 3, hash: first.json.hash });
    expect((await call(m.url, 'GET', '/api/v1/policy', { token: ADMIN })).json.hash).toBe(first.json.hash);
    expect((await call(m.url, 'POST', '/api/v1/policy/versions/99/rollback', { token: ADMIN })).status).toBe(404);
  });

  it('long-polls: answers at once on change, 304 after the wait otherwise', async () => {
    const m = await master();
    const bundle = await call(m.url, 'GET', '/api/v1/policy/bundle', { token: CLUSTER });
    const etag = String(bundle.headers.etag);
    expect(etag).toBe(`"${bundle.json.hash}"`);

    const t0 = Date.now();
    const unchanged = await call(m.url, 'GET', '/api/v1/policy/bundle?wait=1', {
      token: CLUSTER,
      headers: { 'if-none-match': etag },
    });
    expect(unchanged.status).toBe(304);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

    const waiting = call(m.url, 'GET', '/api/v1/policy/bundle?wait=30', {
      token: CLUSTER,
      headers: { 'if-none-match': etag },
    });
    await new Promise((r) => setTimeout(r, 200));
    const t1 = Date.now();
    const saved = await call(m.url, 'PUT', '/api/v1/policy', { token: ADMIN, body: policyText('lp', 'lp.example') });
    const changed = await waiting;
    expect(changed.status).toBe(200);
    expect(changed.json.hash).toBe(saved.json.hash);
    expect(Date.now() - t1).toBeLessThan(1000);
  });

  it('sends large bundles gzip-compressed to clients that accept it, counted by outcome', async () => {
    const m = await master();
    const domains = Array.from({ length: 500 }, (_, i) => `site-${i}.example`).join(', ');
    const big = `categories:\n  - name: many\n    domains: [${domains}]\nrules:\n  - {name: r, action: deny, match: {categories: [many]}}\n`;
    expect((await call(m.url, 'PUT', '/api/v1/policy', { token: ADMIN, body: big })).status).toBe(201);
    const plain = await call(m.url, 'GET', '/api/v1/policy/bundle', { token: CLUSTER });
    const zipped = await new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) => {
      httpRequest(
        `${m.url}/api/v1/policy/bundle`,
        { headers: { authorization: `Bearer ${CLUSTER}`, 'accept-encoding': 'gzip' }, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        },
      )
        .on('error', reject)
        .end();
    });
    expect(zipped.encoding).toBe('gzip');
    expect(zipped.body.length).toBeLessThan(plain.text.length / 3);
    expect(JSON.parse(gunzipSync(zipped.body).toString())).toEqual(plain.json);
    const metrics = (await call(m.url, 'GET', '/metrics')).text;
    expect(metrics).toContain('safesquid_portal_policy_polls_total{result="changed"} 2');
    expect(metrics).toMatch(/safesquid_portal_http_requests_total\{method="PUT",status="201"\} 1/);
  });
});

describe('slave registry', () => {
  it('learns slaves from their sync headers and records their events', async () => {
    const m = await master();
    const current = (await call(m.url, 'GET', '/api/v1/policy', { token: ADMIN })).json.hash as string;
    const headers = {
      'x-safesquid-slave': 'slave-a',
      'x-safesquid-version': '9.9.9',
      'x-safesquid-policy-hash': current,
      'x-safesquid-time': String(Date.now() + 5000),
    };
    expect((await call(m.url, 'GET', '/api/v1/policy/bundle', { token: CLUSTER, headers })).status).toBe(200);
    const event = await call(m.url, 'POST', '/api/v1/slaves/slave-a/events', {
      token: CLUSTER,
      type: 'application/json',
      body: JSON.stringify({ kind: 'unreachable', detail: 'connect ECONNREFUSED', time: Date.now() }),
    });
    expect(event.status).toBe(202);
    const bad = await call(m.url, 'POST', '/api/v1/slaves/slave-a/events', {
      token: CLUSTER,
      type: 'application/json',
      body: JSON.stringify({ kind: 'exploded', detail: '', time: 1 }),
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/kind must be one of applied, refused, unreachable, recovered/);

    const [entry] = (await call(m.url, 'GET', '/api/v1/slaves', { token: ADMIN })).json;
    expect(entry).toMatchObject({
      name: 'slave-a',
      address: '127.0.0.1',
      version: '9.9.9',
      policyHash: current,
      inSync: true,
      state: 'online',
    });
    expect(entry.clockSkewMs).toBeGreaterThan(4000);
    expect(entry.clockSkewMs).toBeLessThan(6000);
    expect(entry.events).toEqual([expect.objectContaining({ kind: 'unreachable', detail: 'connect ECONNREFUSED' })]);
    expect(entry.lastReportAt).toBeNull();

    const batch = {
      batchId: 'b-0001',
      slave: 'slave-a',
      records: [
        {
          time: Date.now(),
          slave: 'slave-a',
          client: '10.0.0.1',
          method: 'GET',
          host: 'a.example',
          url: 'http://a.example/',
          status: 200,
          bytesUp: 1,
          bytesDown: 2,
          durationMs: 3,
          action: 'allow',
        },
      ],
    };
    const posted = await call(m.url, 'POST', '/api/v1/reports/batches', {
      token: CLUSTER,
      type: 'application/json',
      body: JSON.stringify(batch),
      headers: { 'x-safesquid-slave': 'slave-a' },
    });
    expect(posted.status).toBeLessThan(300);
    const after = (await call(m.url, 'GET', '/api/v1/cluster', { token: ADMIN })).json;
    expect(after.slaves[0].lastReportAt).not.toBeNull();
  });

  it('remembers slaves and their sync events across a master restart, and forgets a departed one on request', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portal-restart-'));
    dirs.push(dataDir);
    const states = { onlineMs: 300, staleMs: 600 };
    const first = await master({ dataDir, slaveStateMs: states });
    const headers = (name: string) => ({
      'x-safesquid-slave': name,
      'x-safesquid-version': '1.2.3',
      'x-safesquid-time': String(Date.now()),
    });
    expect(
      (await call(first.url, 'GET', '/api/v1/policy/bundle', { token: CLUSTER, headers: headers('slave-b') })).status,
    ).toBe(200);
    const body = JSON.stringify({ kind: 'refused', detail: 'rules[2].match.urlRegex: lookahead', time: Date.now() });
    expect(
      (
        await call(first.url, 'POST', '/api/v1/slaves/slave-b/events', {
          token: CLUSTER,
          type: 'application/json',
          body,
        })
      ).status,
    ).toBe(202);
    await first.close();

    const second = await master({ dataDir, slaveStateMs: states });
    const [entry] = (await call(second.url, 'GET', '/api/v1/slaves', { token: ADMIN })).json;
    expect(entry).toMatchObject({ name: 'slave-b', version: '1.2.3', address: '127.0.0.1' });
    expect(entry.events).toEqual([
      expect.objectContaining({ kind: 'refused', detail: 'rules[2].match.urlRegex: lookahead' }),
    ]);
    await new Promise((r) => setTimeout(r, 700));
    expect((await call(second.url, 'GET', '/api/v1/slaves/slave-b', { token: ADMIN })).json.state).toBe('offline');

    expect((await call(second.url, 'DELETE', '/api/v1/slaves/slave-b', { token: CLUSTER })).status).toBe(403);
    expect((await call(second.url, 'DELETE', '/api/v1/slaves/slave-b', { token: ADMIN })).status).toBe(204);
    expect((await call(second.url, 'GET', '/api/v1/slaves/slave-b', { token: ADMIN })).status).toBe(404);
    const again = await call(second.url, 'DELETE', '/api/v1/slaves/slave-b', { token: ADMIN });
    expect(again.status).toBe(404);
    expect(again.json.error).toBe('no slave named "slave-b" is known to this master');

    expect(
      (await call(second.url, 'GET', '/api/v1/policy/bundle', { token: CLUSTER, headers: headers('slave-c') })).status,
    ).toBe(200);
    const online = await call(second.url, 'DELETE', '/api/v1/slaves/slave-c', { token: ADMIN });
    expect(online.status).toBe(409);
    expect(online.json.error).toMatch(/slave "slave-c" is online/);
    // Forgetting is remembered too.
    await second.close();
    const third = await master({ dataDir, slaveStateMs: states });
    expect(
      (await call(third.url, 'GET', '/api/v1/slaves', { token: ADMIN })).json.map((s: { name: string }) => s.name),
    ).toEqual(['slave-c']);
  });
});

describe('Kubernetes mode (policy from a mounted file)', () => {
  it('serves the file read-only and follows its changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portal-file-'));
    dirs.push(dir);
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, policyText('from-file', 'one.example'));
    const m = await master({ policyFile: file });
    const before = (await call(m.url, 'GET', '/api/v1/policy', { token: ADMIN })).json;
    expect(before).toMatchObject({ editable: false, source: 'file' });
    expect(before.readOnlyReason).toBe(`the policy is managed outside the portal, in the file ${file}`);
    const put = await call(m.url, 'PUT', '/api/v1/policy', { token: ADMIN, body: policyText('x', 'x.example') });
    expect(put.status).toBe(409);
    expect(put.json.error).toMatch(/^policy is managed by Kubernetes/);
    expect((await call(m.url, 'GET', '/api/v1/cluster', { token: ADMIN })).json.mode).toBe('kubernetes');

    const waiting = call(m.url, 'GET', '/api/v1/policy/bundle?wait=10', {
      token: CLUSTER,
      headers: { 'if-none-match': `"${before.hash}"` },
    });
    writeFileSync(file, policyText('from-file', 'two.example'));
    const changed = await waiting;
    expect(changed.status).toBe(200);
    expect(changed.json.hash).not.toBe(before.hash);

    // A broken edit is refused and the previous policy stays in force.
    writeFileSync(file, 'spec: {rules: [{name: broken, action: nope}]}');
    await new Promise((r) => setTimeout(r, 500));
    expect((await call(m.url, 'GET', '/api/v1/policy', { token: ADMIN })).json.hash).toBe(changed.json.hash);
    const history = (await call(m.url, 'GET', '/api/v1/policy/versions', { token: ADMIN })).json;
    expect(history.map((v: { author: string }) => v.author)).toEqual(['kubernetes', 'kubernetes']);
  });
});
