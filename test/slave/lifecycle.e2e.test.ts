/**
 * The slave as an operator runs it: live policy reloads (plain edits and ConfigMap-style
 * symlink swaps), refusal of a bad new policy, the persisted last-known-good policy on restart,
 * /metrics /healthz /readyz, the access log, graceful shutdown, and flag errors.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compilePolicyBundle, parsePolicyDocuments } from '../../proxy/src/policy/index.js';
import { metricsText, rawRequest, startUpstream, viaProxy, writePolicy, type Upstream } from './harness.js';
import { SAFESQUID_CLI } from '../support/repo.js';
import { startSlave } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const run = promisify(execFile);

function spec(blockedPath: string): string {
  return `
rules:
  - name: block-${blockedPath}
    action: deny
    match: {urlRegex: "^/${blockedPath}"}
  - name: allow-rest
    action: allow
accessRestriction:
  defaultAction: deny
  ssrf: {allowRanges: [127.0.0.0/8]}
`;
}

describe('slave lifecycle', () => {
  let upstream: Upstream;
  const dirs: Array<{ remove(): void }> = [];
  const temp = (name: string): string => {
    const d = tempDir(name);
    dirs.push(d);
    return d.path;
  };

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const delay = req.url === '/slow' ? 800 : 0;
      setTimeout(() => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`ok ${req.url}`), delay);
    });
  });

  afterAll(async () => {
    await upstream?.close();
    for (const d of dirs) d.remove();
  });

  it('reloads an edited policy file live and refuses a bad one, keeping the policy in force', async () => {
    const dir = temp('reload');
    const file = join(dir, 'policy.yaml');
    writePolicy(file, 'reload', spec('first'));
    const slave = await startSlave(['--policy', file]);
    try {
      const base = `http://127.0.0.1:${upstream.port}`;
      expect((await viaProxy(slave.port, `${base}/first`)).status).toBe(403);
      expect((await viaProxy(slave.port, `${base}/second`)).status).toBe(200);

      writePolicy(file, 'reload', spec('second'));
      await until(
        'the edited policy',
        async () => (await viaProxy(slave.port, `${base}/second`)).status === 403 || undefined,
      );
      expect((await viaProxy(slave.port, `${base}/first`)).status).toBe(200);
      const goodHash = /safesquid_policy_info\{hash="([^"]+)"\} 1/.exec(await metricsText(slave.metricsPort))![1];

      writeFileSync(
        file,
        'apiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nmetadata: {name: reload}\nspec:\n  rules:\n    - name: broken\n      action: explode\n',
      );
      await until(
        'the refusal to be logged',
        () => slave.stderr().includes('refused the new policy file') || undefined,
      );
      expect(slave.stderr()).toMatch(/explode/);
      expect((await viaProxy(slave.port, `${base}/second`)).status).toBe(403);
      expect(await metricsText(slave.metricsPort)).toContain(`safesquid_policy_info{hash="${goodHash}"} 1`);
    } finally {
      await slave.stop('SIGKILL');
    }
  });

  it('follows a ConfigMap-style ..data symlink swap carrying a compiled bundle', async () => {
    const dir = temp('configmap');
    const source = join(dir, 'source.yaml');
    // Compile bundles with the real engine, as the operator would.
    const compile = async (blocked: string): Promise<string> => {
      writePolicy(source, 'cm', spec(blocked));
      return JSON.stringify(compilePolicyBundle(parsePolicyDocuments(readFileSync(source, 'utf8'), source)));
    };
    const mount = join(dir, 'mount');
    mkdirSync(join(mount, '..v1'), { recursive: true });
    writeFileSync(join(mount, '..v1', 'bundle.json'), await compile('alpha'));
    symlinkSync('..v1', join(mount, '..data'));
    symlinkSync('..data/bundle.json', join(mount, 'bundle.json'));
    const slave = await startSlave(['--policy', join(mount, 'bundle.json')]);
    try {
      const base = `http://127.0.0.1:${upstream.port}`;
      expect((await viaProxy(slave.port, `${base}/alpha`)).status).toBe(403);
      mkdirSync(join(mount, '..v2'));
      writeFileSync(join(mount, '..v2', 'bundle.json'), await compile('beta'));
      symlinkSync('..v2', join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
      rmSync(join(mount, '..v1'), { recursive: true });
      await until(
        'the swapped bundle',
        async () => (await viaProxy(slave.port, `${base}/beta`)).status === 403 || undefined,
      );
      expect((await viaProxy(slave.port, `${base}/alpha`)).status).toBe(200);
    } finally {
      await slave.stop('SIGKILL');
    }
  });

  it('enforces the persisted last-known-good policy when the policy file has become unusable', async () => {
    const dir = temp('state');
    const file = join(dir, 'policy.yaml');
    const state = join(dir, 'state');
    writePolicy(file, 'persisted', spec('kept'));
    const first = await startSlave(['--policy', file, '--state-dir', state]);
    await first.stop('SIGKILL');
    writeFileSync(file, 'this: is: not: yaml: [');
    const second = await startSlave(['--policy', file, '--state-dir', state]);
    try {
      expect(second.stderr()).toMatch(/enforcing the persisted/);
      expect((await viaProxy(second.port, `http://127.0.0.1:${upstream.port}/kept`)).status).toBe(403);
      expect((await fetch(`http://127.0.0.1:${second.metricsPort}/readyz`)).status).toBe(200);
    } finally {
      await second.stop('SIGKILL');
    }
    // Without a state dir the same broken file is fatal, with the file named.
    const failed = await run(process.execPath, [
      SAFESQUID_CLI,
      'slave',
      '--policy',
      file,
      '--listen',
      '127.0.0.1:0',
      '--metrics-listen',
      'off',
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBe(1);
    expect((failed as { stderr: string }).stderr).toContain(file);
  });

  it('serves /healthz, /readyz and /metrics with counters, histograms and the policy hash', async () => {
    const dir = temp('metrics');
    writePolicy(join(dir, 'p.yaml'), 'metrics', spec('denied'));
    const slave = await startSlave(['--policy', join(dir, 'p.yaml')]);
    try {
      await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/fine`);
      await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/denied`);
      expect(await (await fetch(`http://127.0.0.1:${slave.metricsPort}/healthz`)).text()).toBe('ok\n');
      const ready = await fetch(`http://127.0.0.1:${slave.metricsPort}/readyz`);
      expect(ready.status).toBe(200);
      const text = await metricsText(slave.metricsPort);
      expect(text).toContain('safesquid_proxy_requests_total{action="allow"} 1');
      expect(text).toContain('safesquid_proxy_requests_total{action="deny"} 1');
      expect(text).toMatch(/safesquid_policy_info\{hash="sha256:[0-9a-f]{64}"\} 1/);
      expect(text).toMatch(/safesquid_proxy_decision_seconds_count 2/);
      expect(text).toMatch(/safesquid_proxy_duration_seconds_count\{kind="http"\} 2/);
      expect(text).toMatch(/safesquid_proxy_bytes_total\{direction="down"\} [1-9]/);
      // Without a master no access record is kept: nobody would ever drain them.
      expect(text).toContain('safesquid_report_queue_depth 0');
      expect(text).toMatch(/safesquid_proxy_active_connections \d/);
    } finally {
      await slave.stop('SIGKILL');
    }
  });

  it('writes an access log line per request and tunnel, in Squid format or JSON', async () => {
    const dir = temp('log');
    writePolicy(join(dir, 'p.yaml'), 'log', spec('denied'));
    const squid = await startSlave(['--policy', join(dir, 'p.yaml'), '--access-log', 'squid']);
    const json = await startSlave(['--policy', join(dir, 'p.yaml'), '--access-log', 'json']);
    try {
      for (const s of [squid, json]) {
        await viaProxy(s.port, `http://127.0.0.1:${upstream.port}/logged`, {
          headers: { 'Proxy-Authorization': 'Basic bm90OmxvZ2dlZA==' },
        });
        await viaProxy(s.port, `http://127.0.0.1:${upstream.port}/denied`);
      }
      expect((await rawRequest(json.port, 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n')).status).toBe(403);
      await until('squid log lines', () => squid.stdout().split('\n').length > 2 || undefined);
      const [allowed, denied] = squid.stdout().trim().split('\n');
      expect(allowed).toMatch(
        new RegExp(
          `^\\d+\\.\\d{3} +\\d+ 127\\.0\\.0\\.1 TCP_MISS/200 \\d+ GET http://127\\.0\\.0\\.1:${upstream.port}/logged - HIER_DIRECT/127\\.0\\.0\\.1 text/plain$`,
        ),
      );
      expect(denied).toMatch(/ TCP_DENIED\/403 \d+ GET http:\/\/127\.0\.0\.1:\d+\/denied - HIER_NONE\/- -$/);
      await until('json log lines', () => json.stdout().split('\n').length > 3 || undefined);
      const records = json
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records[0]).toMatchObject({
        slave: 'e2e-slave',
        client: '127.0.0.1',
        method: 'GET',
        status: 200,
        action: 'allow',
        rule: 'allow-rest',
        host: '127.0.0.1',
      });
      expect(records[1]).toMatchObject({ status: 403, action: 'deny', rule: 'block-denied' });
      expect(records[2]).toMatchObject({
        method: 'CONNECT',
        url: '127.0.0.1:1',
        host: '127.0.0.1',
        status: 403,
        action: 'deny',
      });
      expect(records[0].bytesDown).toBeGreaterThan(0);
      for (const s of [squid, json]) expect(s.stdout() + s.stderr()).not.toContain('bm90OmxvZ2dlZA');
    } finally {
      await Promise.all([squid.stop('SIGKILL'), json.stop('SIGKILL')]);
    }
  });

  it('drains in-flight requests on SIGTERM, refuses new connections, and exits 0', async () => {
    const dir = temp('shutdown');
    writePolicy(join(dir, 'p.yaml'), 'shutdown', spec('denied'));
    const slave = await startSlave(['--policy', join(dir, 'p.yaml'), '--shutdown-grace', '5000']);
    const inflight = viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/slow`);
    await until('the slow request upstream', () => upstream.seen.some((r) => r.url === '/slow') || undefined);
    process.kill(slave.pid, 'SIGTERM');
    await until(
      'not ready',
      async () =>
        (await fetch(`http://127.0.0.1:${slave.metricsPort}/readyz`).then(
          (r) => r.status,
          () => 0,
        )) !== 200 || undefined,
    );
    const refused = await new Promise<string>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port: slave.port, path: `http://127.0.0.1:${upstream.port}/late` },
        () => resolve('answered'),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok /slow');
    expect(await slave.exited).toBe(0);
  });

  it('with --drain-delay, answers /readyz with 503 at once on SIGTERM but serves new connections until the delay is over', async () => {
    const dir = temp('drain');
    writePolicy(join(dir, 'p.yaml'), 'drain', spec('denied'));
    const slave = await startSlave(['--policy', join(dir, 'p.yaml'), '--drain-delay', '1500']);
    const readyz = () =>
      fetch(`http://127.0.0.1:${slave.metricsPort}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
    expect(await readyz()).toBe(200);
    const signalled = Date.now();
    process.kill(slave.pid, 'SIGTERM');
    await until('not ready', async () => (await readyz()) === 503 || undefined);
    // Not ready before the listener closes: a balancer that has not noticed yet still gets its
    // new connection served.
    const agent = new http.Agent({ keepAlive: false });
    expect((await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/during-drain`, { agent })).status).toBe(200);
    const refused = await until(
      'the listener closed',
      () =>
        new Promise<number | undefined>((resolve) => {
          const req = http.get(
            { host: '127.0.0.1', port: slave.port, path: `http://127.0.0.1:${upstream.port}/after`, agent },
            (res) => {
              res.resume();
              resolve(undefined);
            },
          );
          req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? Date.now() : undefined));
        }),
      5000,
    );
    expect(refused - signalled).toBeGreaterThanOrEqual(1450);
    expect(await slave.exited).toBe(0);
  });

  it('rejects bad flags with exit code 2 and a message naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--listen', '127.0.0.1:0'], /--policy FILE is required/],
      [['--policy', 'x.yaml', '--listen', 'nonsense'], /--listen "nonsense"/],
      [['--policy', 'x.yaml', '--access-log', 'xml'], /--access-log "xml"/],
      [['--policy', 'x.yaml', '--max-connections', '0'], /--max-connections "0"/],
      [['--policy', 'x.yaml', '--bogus'], /bogus/],
      [['--policy', 'x.yaml', '--master', 'http://127.0.0.1:1'], /--token-file/],
    ];
    for (const [args, message] of cases) {
      const err = (await run(process.execPath, [SAFESQUID_CLI, 'slave', ...args]).catch((e: unknown) => e)) as {
        code: number;
        stderr: string;
      };
      expect([args.join(' '), err.code]).toEqual([args.join(' '), 2]);
      expect(err.stderr).toMatch(message);
    }
  });
});

describe('slave with --workers', () => {
  it('shares the listen port across workers, sums their metrics, and drains them all on SIGTERM', async () => {
    const upstream = await startUpstream();
    const dir = tempDir('workers');
    writePolicy(join(dir.path, 'p.yaml'), 'workers', spec('denied'));
    const slave = await startSlave(['--policy', join(dir.path, 'p.yaml'), '--workers', '2', '--drain-delay', '600']);
    try {
      expect(slave.stderr().match(/"worker started"/g)).toHaveLength(2);
      const agent = new http.Agent({ keepAlive: false });
      for (let i = 0; i < 6; i++)
        expect((await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/w${i}`, { agent })).status).toBe(200);
      expect((await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/denied`)).status).toBe(403);
      const ready = await fetch(`http://127.0.0.1:${slave.metricsPort}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.text()).toMatch(/^ready: 2 workers, policy sha256:/);
      const text = await metricsText(slave.metricsPort);
      expect(text).toContain('safesquid_proxy_requests_total{action="allow"} 6');
      expect(text).toContain('safesquid_proxy_requests_total{action="deny"} 1');
      expect(text).toMatch(/safesquid_policy_info\{hash="sha256:[0-9a-f]{64}"\} 1\n/);
      // The primary goes not-ready first and its workers serve on through the drain delay.
      process.kill(slave.pid, 'SIGTERM');
      await until(
        'not ready',
        async () => (await fetch(`http://127.0.0.1:${slave.metricsPort}/readyz`)).status === 503 || undefined,
      );
      expect((await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/draining`, { agent })).status).toBe(200);
      expect(await slave.exited).toBe(0);
    } finally {
      await slave.stop('SIGKILL');
      await upstream.close();
      dir.remove();
    }
  });
});
