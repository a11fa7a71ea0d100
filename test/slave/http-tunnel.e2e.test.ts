/**
 * Plain HTTP through CONNECT: undici's ProxyAgent (and so Node's fetch through a proxy) and
 * `curl --proxytunnel` send http:// URLs as `CONNECT host:port` and then origin-form requests. For
 * ports the policy declares as plain HTTP (`httpTunnelPorts`) the slave reads the requests inside
 * the tunnel and applies the full policy to each: rules, block pages, header rules, access records.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProxyAgent, fetch } from 'undici';
import { rawRequest, startUpstream, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const run = promisify(execFile);

describe('plain-HTTP tunnels', () => {
  const dir = tempDir('httptunnel');
  let upstream: Upstream;
  let inspected: SlaveProcess; // the upstream's port declared as plain HTTP
  let opaque: SlaveProcess; // the same port allowed for CONNECT only
  let agent: ProxyAgent;

  beforeAll(async () => {
    upstream = await startUpstream();
    const policy = (extra: string) => `
rules:
  - name: no-secret
    action: deny
    message: Secrets stay inside
    match: {urlRegex: "^/secret"}
  - {name: rest, action: allow}
headerRules:
  - name: tag
    request: {set: {X-Policy-Tag: tagged}}
    response: {add: {X-Inspected: "yes"}}
accessRestriction:
  defaultAction: deny
  connectPorts: [443, ${upstream.port}]
${extra}
  ssrf: {allowRanges: [127.0.0.0/8]}
`;
    writePolicy(join(dir.path, 'inspected.yaml'), 'inspected', policy(`  httpTunnelPorts: [${upstream.port}]`));
    writePolicy(join(dir.path, 'opaque.yaml'), 'opaque', policy(''));
    [inspected, opaque] = await Promise.all([
      startSlave(['--policy', join(dir.path, 'inspected.yaml'), '--access-log', 'json']),
      startSlave(['--policy', join(dir.path, 'opaque.yaml')]),
    ]);
    agent = new ProxyAgent(`http://127.0.0.1:${inspected.port}`);
  });

  afterAll(async () => {
    await agent?.close();
    await Promise.all([inspected?.stop(), opaque?.stop()]);
    await upstream?.close();
    dir.remove();
  });

  const url = (path: string) => `http://127.0.0.1:${upstream.port}${path}`;

  it("undici ProxyAgent: allowed requests go through with the policy's header rules", async () => {
    const res = await fetch(url('/open?q=1'), { dispatcher: agent });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-inspected')).toBe('yes');
    const seen = (await res.json()) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/open?q=1');
    expect(seen.headers['x-policy-tag']).toBe('tagged');
    expect(seen.headers.via).toMatch(/safesquid/);
  });

  it('undici ProxyAgent: a denied path gets the block page, and nothing reaches the upstream', async () => {
    const before = upstream.seen.length;
    const res = await fetch(url('/%73ecret/x'), { dispatcher: agent });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Secrets stay inside');
    expect(upstream.seen.length).toBe(before);
  });

  it('records every request inside the tunnel as an http:// URL', async () => {
    await fetch(url('/recorded'), { dispatcher: agent }).then((r) => r.text());
    const line = await until('the access log line', () =>
      inspected
        .stdout()
        .split('\n')
        .find((l) => l.includes('/recorded')),
    );
    expect(JSON.parse(line)).toMatchObject({ method: 'GET', url: url('/recorded'), status: 200 });
  });

  it('curl --proxytunnel: allowed and denied requests', async () => {
    const curl = (path: string) =>
      run('curl', [
        '-s',
        '-o',
        '-',
        '-w',
        '\\n%{http_code}',
        '--proxytunnel',
        '-x',
        `http://127.0.0.1:${inspected.port}`,
        url(path),
      ]).then((r) => r.stdout.split('\n'));
    const ok = await curl('/curl-ok');
    expect(ok.at(-1)).toBe('200');
    expect(JSON.parse(ok.slice(0, -1).join('\n')).headers['x-policy-tag']).toBe('tagged');
    const denied = await curl('/secret/');
    expect(denied.at(-1)).toBe('403');
    expect(upstream.seen.some((r) => r.url.startsWith('/secret'))).toBe(false);
  });

  it('refuses absolute-form and nested CONNECT inside the tunnel', async () => {
    const hostPort = `127.0.0.1:${upstream.port}`;
    const nested = await rawRequest(
      inspected.port,
      `CONNECT ${hostPort} HTTP/1.1\r\nHost: ${hostPort}\r\n\r\nCONNECT ${hostPort} HTTP/1.1\r\nHost: ${hostPort}\r\n\r\n`,
    );
    expect(nested.raw).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 400 /);
    const absolute = await rawRequest(
      inspected.port,
      `CONNECT ${hostPort} HTTP/1.1\r\nHost: ${hostPort}\r\n\r\nGET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n`,
    );
    expect(absolute.raw).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 400 /);
    expect(absolute.raw).toContain('requests must name a path');
  });

  it('without the port in httpTunnelPorts the tunnel is opaque: rules on paths cannot apply', async () => {
    const opaqueAgent = new ProxyAgent(`http://127.0.0.1:${opaque.port}`);
    try {
      const res = await fetch(url('/secret/opaque'), { dispatcher: opaqueAgent });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-inspected')).toBeNull();
    } finally {
      await opaqueAgent.close();
    }
  });
});
