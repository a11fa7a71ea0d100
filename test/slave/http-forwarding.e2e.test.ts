/**
 * HTTP forwarding through a real `safesquid slave` process to real upstreams on 127.0.0.1:
 * headers, keep-alive pooling, streaming both ways, chunked, 100-continue, HEAD, WebSocket
 * upgrades, and the policy's deny/redirect/MIME/header rules as the client sees them.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rawRequest, startUpstream, viaProxy, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const BIG = randomBytes(16 * 1024 * 1024);

const POLICY = `
rules:
  - name: block-downloads
    action: deny
    message: "Downloads <b>are</b> blocked & logged"
    match: {urlRegex: "^/downloads/"}
  - name: old-site
    action: redirect
    redirectTo: https://intranet.example/moved
    match: {urlRegex: "^/old"}
  - name: no-executables
    action: deny
    message: Executables are not allowed
    match: {responseMimeTypes: [application/x-msdownload]}
  - name: everything-else
    action: allow
headerRules:
  - name: tag-requests
    request: {set: {X-Policy-Tag: tagged}, remove: [X-Debug]}
    response: {add: {X-Inspected: "yes"}}
accessRestriction:
  defaultAction: deny
  ssrf: {allowRanges: [127.0.0.0/8]}
`;

describe('slave HTTP forwarding', () => {
  const dir = tempDir('http');
  let upstream: Upstream;
  let slave: SlaveProcess;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream((req, res, body) => {
      if (req.url === '/exe') {
        res.writeHead(200, { 'Content-Type': 'application/x-msdownload' }).end('MZ-not-for-you');
        return;
      }
      if (req.url === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('part one,');
        setTimeout(() => res.end('part two'), 20);
        return;
      }
      if (req.url === '/big') {
        res
          .writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(BIG.length) })
          .end(BIG);
        return;
      }
      if (req.url === '/head') {
        res
          .writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '1234' })
          .end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'application/json',
        Connection: 'keep-alive, X-Upstream-Hop',
        'X-Upstream-Hop': 'must-not-reach-client',
        'Keep-Alive': 'timeout=5',
      });
      res.end(
        JSON.stringify({
          url: req.url,
          headers: req.headers,
          bodyLength: body.length,
          sha: createHash('sha256').update(body).digest('hex'),
        }),
      );
    });
    writePolicy(join(dir.path, 'policy.yaml'), 'http-e2e', POLICY);
    slave = await startSlave(['--policy', join(dir.path, 'policy.yaml')]);
    base = `http://127.0.0.1:${upstream.port}`;
  });

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    await upstream?.close();
    dir.remove();
  });

  it('forwards with Via, corrects Host from the URI, strips hop-by-hop fields and proxy credentials', async () => {
    const res = await rawRequest(
      slave.port,
      `GET ${base}/hello?x=1 HTTP/1.1\r\nHost: wrong.example\r\nProxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n` +
        `Proxy-Connection: keep-alive\r\nConnection: close, X-Client-Hop\r\nX-Client-Hop: secret\r\nTE: trailers\r\nX-Debug: 1\r\nX-Keep: me\r\n\r\n`,
    );
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.content) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/hello?x=1');
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen.headers.via).toBe('1.1 e2e-slave (safesquid)');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-keep']).toBe('me');
    for (const h of ['proxy-authorization', 'proxy-connection', 'x-client-hop', 'te', 'x-debug'])
      expect(seen.headers[h]).toBeUndefined();
    expect(seen.headers['x-policy-tag']).toBe('tagged');
    expect(res.head).toMatch(/\r\nVia: 1\.1 e2e-slave \(safesquid\)/i);
    expect(res.head).toMatch(/\r\nX-Inspected: yes/i);
    expect(res.head).not.toMatch(/X-Upstream-Hop/i);
    expect(res.head).not.toMatch(/timeout=5/);
  });

  it('serves curl as a plain HTTP proxy client', async () => {
    const { stdout } = await run('curl', [
      '-sS',
      '-x',
      `http://127.0.0.1:${slave.port}`,
      '-H',
      'X-From: curl',
      `${base}/curl?q=1`,
    ]);
    const seen = JSON.parse(stdout) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/curl?q=1');
    expect(seen.headers['x-from']).toBe('curl');
    expect(seen.headers['proxy-connection']).toBeUndefined();
    const { stdout: status } = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-x',
      `http://127.0.0.1:${slave.port}`,
      `${base}/downloads/x`,
    ]);
    expect(status).toBe('403');
  });

  it('reuses upstream connections across client requests (keep-alive pool)', async () => {
    const before = upstream.connections();
    for (let i = 0; i < 5; i++) expect((await viaProxy(slave.port, `${base}/pool/${i}`)).status).toBe(200);
    expect(upstream.connections() - before).toBeLessThanOrEqual(1);
  });

  it('relays chunked responses and HEAD without a body', async () => {
    const chunked = await rawRequest(
      slave.port,
      `GET ${base}/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(chunked.head).toMatch(/Transfer-Encoding: chunked/i);
    expect(chunked.body).toBe('9\r\npart one,\r\n8\r\npart two\r\n0\r\n\r\n');
    const head = await rawRequest(slave.port, `HEAD ${base}/head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(head.status).toBe(200);
    expect(head.head).toMatch(/Content-Length: 1234/i);
    expect(head.body).toBe('');
  });

  it('streams a chunked 8 MiB upload intact', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: slave.port,
          method: 'POST',
          path: `${base}/upload`,
          headers: { 'Transfer-Encoding': 'chunked' },
        },
        (r) => {
          let b = '';
          r.on('data', (d: Buffer) => (b += d));
          r.on('end', () => resolve({ status: r.statusCode!, body: b }));
        },
      );
      req.on('error', reject);
      for (let off = 0; off < payload.length; off += 65536) req.write(payload.subarray(off, off + 65536));
      req.end();
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body) as { bodyLength: number; sha: string; headers: Record<string, string> };
    expect(seen.bodyLength).toBe(payload.length);
    expect(seen.sha).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(seen.headers['transfer-encoding']).toBe('chunked');
  });

  it('streams a 16 MiB download to a slow reader intact (back-pressure)', async () => {
    const got = await new Promise<Buffer>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: slave.port, path: `${base}/big` }, (r) => {
          const chunks: Buffer[] = [];
          let n = 0;
          r.on('data', (c: Buffer) => {
            chunks.push(c);
            // Stall now and then so the proxy has to hold the upstream back.
            if (++n % 64 === 0) {
              r.pause();
              setTimeout(() => r.resume(), 5);
            }
          });
          r.on('end', () => resolve(Buffer.concat(chunks)));
          r.on('error', reject);
        })
        .on('error', reject);
    });
    expect(got.length).toBe(BIG.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(BIG).digest('hex'));
  });

  it('streams bodies both ways without buffering them whole', async () => {
    // The upstream answers the first request chunk before the client sent the rest; the client
    // only sends the rest after it has received that answer: a buffering proxy deadlocks here.
    const streaming = await startUpstream(
      (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        req.once('data', () => res.write('got-first-chunk\n'));
        req.on('end', () => res.end('done\n'));
      },
      { stream: true },
    );
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: slave.port,
            method: 'POST',
            path: `http://127.0.0.1:${streaming.port}/s`,
            headers: { 'Transfer-Encoding': 'chunked' },
          },
          (r) => {
            let b = '';
            r.on('data', (d: Buffer) => {
              b += d;
              if (b === 'got-first-chunk\n') req.end('second chunk');
            });
            r.on('end', () => resolve(b));
          },
        );
        req.on('error', reject);
        req.write('first chunk');
        req.flushHeaders();
      });
      expect(text).toBe('got-first-chunk\ndone\n');
    } finally {
      await streaming.close();
    }
  });

  it('relays 100-continue from the upstream, and refuses without 100 when policy denies', async () => {
    const exchange = (path: string) =>
      new Promise<{ status: number; continued: boolean; body: string }>((resolve, reject) => {
        let continued = false;
        const req = http.request({
          host: '127.0.0.1',
          port: slave.port,
          method: 'PUT',
          path: `${base}${path}`,
          headers: { Expect: '100-continue', 'Content-Length': '5' },
        });
        req.on('continue', () => {
          continued = true;
          req.end('hello');
        });
        req.on('response', (r) => {
          let b = '';
          r.on('data', (d: Buffer) => (b += d));
          r.on('end', () => resolve({ status: r.statusCode!, continued, body: b }));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    const ok = await exchange('/put');
    expect(ok).toMatchObject({ status: 200, continued: true });
    expect(JSON.parse(ok.body).bodyLength).toBe(5);
    const before = upstream.seen.length;
    const denied = await exchange('/downloads/x');
    expect(denied).toMatchObject({ status: 403, continued: false });
    expect(upstream.seen.length).toBe(before);
  });

  it('answers deny with a text block page naming rule and reason, and never contacts the upstream', async () => {
    const before = upstream.seen.length;
    const res = await viaProxy(slave.port, `${base}/downloads/tool.zip`);
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body.toString();
    expect(text).toContain('Rule: block-downloads (policy set http-e2e)');
    expect(text).toContain('Downloads <b>are</b> blocked & logged');
    expect(text).toContain(`URL: ${base}/downloads/tool.zip`);
    expect(upstream.seen.length).toBe(before);
  });

  it('answers deny with an escaped HTML block page for browsers', async () => {
    const res = await viaProxy(slave.port, `${base}/downloads/<script>`, {
      headers: { Accept: 'text/html,application/xhtml+xml' },
    });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const html = res.body.toString();
    expect(html).toContain('Downloads &lt;b&gt;are&lt;/b&gt; blocked &amp; logged');
    expect(html).toContain('block-downloads');
    expect(html).not.toContain('<script>');
  });

  it('answers redirect rules with 302 and the target', async () => {
    const before = upstream.seen.length;
    const res = await viaProxy(slave.port, `${base}/old/page`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('https://intranet.example/moved');
    expect(upstream.seen.length).toBe(before);
  });

  it('blocks by response MIME type before any of the body reaches the client', async () => {
    const res = await viaProxy(slave.port, `${base}/exe`);
    expect(res.status).toBe(403);
    expect(res.body.toString()).toContain('no-executables');
    expect(res.body.toString()).not.toContain('MZ-not-for-you');
  });

  it('proxies WebSocket upgrades both ways', async () => {
    const ws = await startUpstream();
    const upgraded: net.Socket[] = [];
    ws.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      upgraded.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
    });
    try {
      const socket = net.connect(slave.port, '127.0.0.1');
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      socket.write(
        `GET http://127.0.0.1:${ws.port}/chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
      await until('101 response', () => received.includes('\r\n\r\n') || undefined);
      expect(received).toMatch(/^HTTP\/1\.1 101/);
      expect(received).toMatch(/\r\nUpgrade: websocket/i);
      socket.write('ping');
      await until('echoed frame', () => received.endsWith('echo:ping') || undefined);
      socket.destroy();
      expect(ws.seen).toHaveLength(0); // upgrades are not 'request' events upstream
    } finally {
      for (const s of upgraded) s.destroy();
      await ws.close();
    }
  });

  it('relays a close-delimited HTTP/1.0 response completely', async () => {
    const old = net.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ends at close'));
    });
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    try {
      const res = await viaProxy(slave.port, `http://127.0.0.1:${(old.address() as net.AddressInfo).port}/legacy`);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('no length, ends at close');
    } finally {
      await new Promise((r) => old.close(r));
    }
  });

  it('cuts the client off when the upstream dies mid-body, so truncation is visible', async () => {
    const dying = net.createServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly ten b');
        setTimeout(() => s.destroy(), 50);
      });
    });
    await new Promise<void>((r) => dying.listen(0, '127.0.0.1', r));
    try {
      const outcome = await viaProxy(slave.port, `http://127.0.0.1:${(dying.address() as net.AddressInfo).port}/`).then(
        (r) => `complete with ${r.body.length} bytes`,
        (e: Error) => `failed: ${e.message}`,
      );
      expect(outcome).toMatch(/^failed: (aborted|socket hang up)/);
    } finally {
      await new Promise((r) => dying.close(r));
    }
  });

  it('answers 502 when the upstream is down', async () => {
    const closed = await startUpstream();
    const port = closed.port;
    await closed.close();
    const res = await viaProxy(slave.port, `http://127.0.0.1:${port}/`);
    expect(res.status).toBe(502);
    expect(res.body.toString()).toMatch(/ECONNREFUSED/);
  });
});
