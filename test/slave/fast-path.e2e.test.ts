/**
 * The slave's raw-socket fast path (bodiless absolute-form http:// requests) against real
 * upstreams: pipelining, heads split across reads, upstream keep-alive reuse, every response
 * framing (Content-Length, chunked, until close, HEAD, 304), and the handover to node:http of a
 * request with a body on a connection that already carried fast-path requests.
 */
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startUpstream, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';

const POLICY = `
rules:
  - {name: everything, action: allow}
accessRestriction:
  defaultAction: deny
  ssrf: {allowRanges: [127.0.0.0/8]}
`;

interface Response {
  status: number;
  head: string;
  body: Buffer;
}

/** One client connection to the proxy, reading responses one at a time by their framing. */
class Client {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
    this.socket.on('error', () => {});
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  get closed(): boolean {
    return this.ended;
  }

  private async need(ok: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 3000;
    while (!ok()) {
      if (this.ended)
        throw new Error(
          `connection closed while waiting for ${what}; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async response(method = 'GET'): Promise<Response> {
    await this.need(() => this.buf.indexOf('\r\n\r\n') !== -1, 'a response head');
    const head = this.take(this.buf.indexOf('\r\n\r\n') + 4).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)![1]);
    if (method === 'HEAD' || status === 304 || status === 204) return { status, head, body: Buffer.alloc(0) };
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (cl) {
      const n = Number(cl[1]);
      await this.need(() => this.buf.length >= n, `${n} body bytes`);
      return { status, head, body: Buffer.from(this.take(n)) };
    }
    expect(head).toMatch(/\r\ntransfer-encoding: chunked/i);
    const parts: Buffer[] = [];
    for (;;) {
      await this.need(() => this.buf.indexOf('\r\n') !== -1, 'a chunk size');
      const size = parseInt(this.take(this.buf.indexOf('\r\n') + 2).toString('latin1'), 16);
      await this.need(() => this.buf.length >= size + 2, 'chunk data');
      if (size === 0) {
        this.take(2);
        return { status, head, body: Buffer.concat(parts) };
      }
      parts.push(Buffer.from(this.take(size)));
      this.take(2);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('slave fast path', () => {
  const dir = tempDir('fast');
  const UPLOAD = randomBytes(300_000);
  const BIG = randomBytes(3_000_000);
  let upstream: Upstream;
  let closing: net.Server;
  let slave: SlaveProcess;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream((req, res, body) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('part one,');
        setTimeout(() => res.end('part two'), 20);
        return;
      }
      if (req.url === '/head') {
        res
          .writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '1234' })
          .end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
        return;
      }
      if (req.url === '/big-length') {
        res
          .writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(BIG.length) })
          .end(BIG);
        return;
      }
      if (req.url === '/big-chunked') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        // Uneven pieces: chunk boundaries fall anywhere in the proxy's reads.
        for (let at = 0, n = 1; at < BIG.length; at += n, n = ((n * 7919) % 200_000) + 1)
          res.write(BIG.subarray(at, at + n));
        res.end();
        return;
      }
      if (req.url === '/cached') {
        res.writeHead(304, { ETag: '"v1"' }).end();
        return;
      }
      if (req.url === '/upload') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(createHash('sha256').update(body).digest('hex'));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(req.url!.length) }).end(req.url);
    });
    // An HTTP/1.1 upstream that delimits its body by closing the connection.
    closing = net.createServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil ');
        setTimeout(() => s.end('the end'), 20);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => closing.listen(0, '127.0.0.1', r));
    const policy = join(dir.path, 'policy.yaml');
    writePolicy(policy, 'fast-e2e', POLICY);
    slave = await startSlave(['--policy', policy]);
    base = `http://127.0.0.1:${upstream.port}`;
  });

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    await upstream?.close();
    await new Promise<void>((r) => (closing ? closing.close(() => r()) : r()));
    dir.remove();
  });

  const get = (path: string, method = 'GET'): string => `${method} ${base}${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

  it('answers pipelined requests in order, each forwarded with Via', async () => {
    const c = new Client(slave.port);
    try {
      const before = upstream.seen.length;
      c.send(get('/p/1') + get('/p/22') + get('/p/333'));
      for (const path of ['/p/1', '/p/22', '/p/333']) {
        const r = await c.response();
        expect(r.status).toBe(200);
        expect(r.head).toMatch(/\r\nVia: 1\.1 [^\r]+ \(safesquid\)/);
        expect(r.body.toString()).toBe(path);
      }
      const seen = upstream.seen.slice(before);
      expect(seen.map((s) => s.url)).toEqual(['/p/1', '/p/22', '/p/333']);
      expect(seen[0].headers.via).toMatch(/\(safesquid\)$/);
      expect(seen[0].headers['x-forwarded-for']).toBe('127.0.0.1');
    } finally {
      c.close();
    }
  });

  it('serves a request whose head arrives across several reads, and the next one on the connection', async () => {
    const c = new Client(slave.port);
    try {
      const text = get('/split');
      c.send(text.slice(0, 20));
      await new Promise((r) => setTimeout(r, 50));
      c.send(text.slice(20));
      expect((await c.response()).body.toString()).toBe('/split');
      c.send(get('/after-split'));
      expect((await c.response()).body.toString()).toBe('/after-split');
    } finally {
      c.close();
    }
  });

  it('reuses one upstream connection for sequential requests from several clients', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const before = upstream.connections();
    for (let client = 0; client < 3; client++) {
      const c = new Client(slave.port);
      try {
        for (let i = 0; i < 3; i++) {
          c.send(get(`/reuse/${client}/${i}`));
          expect((await c.response()).body.toString()).toBe(`/reuse/${client}/${i}`);
        }
      } finally {
        c.close();
      }
    }
    expect(upstream.connections() - before).toBeLessThanOrEqual(1);
  });

  it('relays chunked, until-close, HEAD and 304 responses with the right framing, keeping the client connection', async () => {
    const c = new Client(slave.port);
    try {
      c.send(get('/chunked'));
      const chunked = await c.response();
      expect(chunked.head).toMatch(/\r\nTransfer-Encoding: chunked/i);
      expect(chunked.body.toString()).toBe('part one,part two');

      c.send(`GET http://127.0.0.1:${(closing.address() as AddressInfo).port}/close HTTP/1.1\r\nHost: x\r\n\r\n`);
      const untilClose = await c.response();
      expect(untilClose.head).toMatch(/\r\nTransfer-Encoding: chunked/i);
      expect(untilClose.head).not.toMatch(/\r\nConnection:/i);
      expect(untilClose.body.toString()).toBe('until the end');

      c.send(get('/head', 'HEAD'));
      const head = await c.response('HEAD');
      expect(head.status).toBe(200);
      expect(head.head).toMatch(/\r\nContent-Length: 1234/i);

      c.send(get('/cached'));
      const notModified = await c.response();
      expect(notModified.status).toBe(304);
      expect(notModified.head).toMatch(/\r\nETag: "v1"/i);

      // Had any of those left a stray byte behind, this would not parse.
      c.send(get('/last'));
      expect((await c.response()).body.toString()).toBe('/last');
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  });

  it('relays large bodies intact to slow and fast clients at once, between small responses', async () => {
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const clients = [new Client(slave.port), new Client(slave.port), new Client(slave.port)];
    try {
      const [slow, fast, small] = clients;
      // The slow client's writes queue up in the proxy while the others' reads go on.
      slow.socket.pause();
      slow.send(get('/big-length') + get('/big-chunked'));
      fast.send(get('/big-chunked') + get('/big-length'));
      const smallOnes = (async () => {
        for (let i = 0; i < 20; i++) {
          small.send(get(`/small/${i}`));
          expect((await small.response()).body.toString()).toBe(`/small/${i}`);
        }
      })();
      const fastBodies = [await fast.response(), await fast.response()];
      await smallOnes;
      slow.socket.resume();
      const slowBodies = [await slow.response(), await slow.response()];
      for (const r of [...fastBodies, ...slowBodies]) {
        expect(r.status).toBe(200);
        expect(sha(r.body)).toBe(sha(BIG));
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('hands a request with a body to node:http after fast-path requests on the same connection', async () => {
    const c = new Client(slave.port);
    try {
      c.send(get('/before-upload'));
      expect((await c.response()).body.toString()).toBe('/before-upload');
      // The upload is pipelined behind another fast-path request, in one write.
      c.send(
        Buffer.concat([
          Buffer.from(
            get('/just-before') + `POST ${base}/upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${UPLOAD.length}\r\n\r\n`,
          ),
          UPLOAD,
        ]),
      );
      expect((await c.response()).body.toString()).toBe('/just-before');
      const upload = await c.response();
      expect(upload.status).toBe(200);
      expect(upload.body.toString()).toBe(createHash('sha256').update(UPLOAD).digest('hex'));
      c.send(get('/after-upload'));
      expect((await c.response()).body.toString()).toBe('/after-upload');
    } finally {
      c.close();
    }
  });

  it('closes the connection after answering a request that asks for it', async () => {
    const c = new Client(slave.port);
    try {
      c.send(`GET ${base}/bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const r = await c.response();
      expect(r.head).toMatch(/\r\nConnection: close/i);
      expect(r.body.toString()).toBe('/bye');
      const deadline = Date.now() + 2000;
      while (!c.closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      expect(c.closed).toBe(true);
    } finally {
      c.close();
    }
  });
});

describe('slave fast path with a short idle timeout', () => {
  const dir = tempDir('fast-idle');
  let silent: net.Server;
  let slave: SlaveProcess;

  beforeAll(async () => {
    // Never answers, or (for /stall) sends a head and 10 of 100 body bytes, then nothing.
    silent = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        if (d.toString('latin1').startsWith('GET /stall '))
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const policy = join(dir.path, 'policy.yaml');
    writePolicy(policy, 'fast-idle-e2e', POLICY);
    slave = await startSlave(['--policy', policy, '--idle-timeout', '400']);
  });

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    await new Promise<void>((r) => (silent ? silent.close(() => r()) : r()));
    dir.remove();
  });

  it('answers 504 when the upstream stays silent past the idle timeout, and keeps the client connection', async () => {
    const c = new Client(slave.port);
    try {
      const started = Date.now();
      c.send(`GET http://127.0.0.1:${(silent.address() as AddressInfo).port}/never HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      expect(r.status).toBe(504);
      expect(r.body.toString()).toMatch(/timed out/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  });

  it('cuts the client off when the upstream stalls mid-body past the idle timeout', async () => {
    const c = new Client(slave.port);
    const received: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => received.push(d));
    try {
      const started = Date.now();
      c.send(`GET http://127.0.0.1:${(silent.address() as AddressInfo).port}/stall HTTP/1.1\r\nHost: x\r\n\r\n`);
      const deadline = Date.now() + 3000;
      while (!c.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(c.closed).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      const text = Buffer.concat(received).toString('latin1');
      expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(text.endsWith('\r\n\r\n0123456789')).toBe(true);
    } finally {
      c.close();
    }
  });
});
