/**
 * What the slave refuses, seen from real clients: the SSRF guard on loopback forms of the
 * destination (and the proxy's own endpoints), malformed requests, slow clients, and the
 * connection and tunnel caps. Every case checks that nothing reached the upstream.
 */
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rawRequest, startUpstream, viaProxy, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

function policy(extra: string): string {
  return `
rules:
  - name: allow-all
    action: allow
accessRestriction:
  defaultAction: deny
${extra}
`;
}

describe('slave guards', () => {
  const dir = tempDir('guards');
  let upstream: Upstream;
  let guarded: SlaveProcess; // no SSRF exceptions
  let open: SlaveProcess; // 127.0.0.0/8 opened, small limits and timeouts
  let holdServer: net.Server;
  let holdPort: number;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    holdServer = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => holdServer.listen(0, '127.0.0.1', r));
    holdPort = (holdServer.address() as AddressInfo).port;
    writePolicy(join(dir.path, 'guarded.yaml'), 'guarded', policy(`  connectPorts: [443, ${upstream.port}]`));
    writePolicy(
      join(dir.path, 'open.yaml'),
      'open',
      policy(`  connectPorts: [443, ${holdPort}]\n  ssrf: {allowRanges: [127.0.0.0/8]}`),
    );
    [guarded, open] = await Promise.all([
      startSlave(['--policy', join(dir.path, 'guarded.yaml')]),
      startSlave([
        '--policy',
        join(dir.path, 'open.yaml'),
        '--max-connections',
        '4',
        '--max-tunnels',
        '1',
        '--header-timeout',
        '600',
        '--idle-timeout',
        '1200',
      ]),
    ]);
  });

  afterAll(async () => {
    await Promise.all([guarded?.stop('SIGKILL'), open?.stop('SIGKILL')]);
    for (const s of held) s.destroy();
    await new Promise((r) => holdServer?.close(r));
    await upstream?.close();
    dir.remove();
  });

  describe('SSRF guard', () => {
    const forms = (port: number): string[] => [
      `http://127.0.0.1:${port}/`,
      `http://127.9.9.9:${port}/`,
      `http://localhost:${port}/`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://2130706433:${port}/`,
      `http://0x7f.1:${port}/`,
      `http://0.0.0.0:${port}/`,
      `http://[::]:${port}/`,
      // IPv6 forms that embed or translate 127.0.0.1 (SIIT, NAT64, local-use NAT64, 6to4, IPv4-compatible)
      `http://[::ffff:0:7f00:1]:${port}/`,
      `http://[64:ff9b::7f00:1]:${port}/`,
      `http://[64:ff9b:1::7f00:1]:${port}/`,
      `http://[2002:7f00:1::1]:${port}/`,
      `http://[::7f00:1]:${port}/`,
    ];

    it('refuses every loopback and unspecified form of the destination, without dialling it', async () => {
      for (const url of forms(upstream.port)) {
        const res = await viaProxy(guarded.port, url);
        expect([url, res.status]).toEqual([url, 403]);
        expect(res.body.toString()).toMatch(/(loopback|unspecified|IPv4-compatible IPv6) address/);
      }
      const tunnel = await rawRequest(guarded.port, `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(tunnel.status).toBe(403);
      expect(upstream.connections()).toBe(0);
    });

    it('lets the policy open a range (the same request goes through with 127.0.0.0/8 allowed)', async () => {
      const res = await viaProxy(open.port, `http://127.0.0.1:${upstream.port}/opened`);
      expect(res.status).toBe(200);
      expect(upstream.seen.map((r) => r.url)).toEqual(['/opened']);
    });

    it("never dials the proxy's own listeners, even inside an opened range", async () => {
      for (const port of [open.port, open.metricsPort]) {
        const res = await viaProxy(open.port, `http://127.0.0.1:${port}/metrics`);
        expect(res.status).toBe(403);
        expect(res.body.toString()).toContain('the proxy itself');
      }
    });
  });

  describe('allowed clients', () => {
    it('refuses clients outside accessRestriction.allowedClients before anything else', async () => {
      const file = join(dir.path, 'clients.yaml');
      writePolicy(file, 'clients', policy(`  allowedClients: [10.0.0.0/8]\n  ssrf: {allowRanges: [127.0.0.0/8]}`));
      const slave = await startSlave(['--policy', file]);
      try {
        const before = upstream.seen.length;
        const res = await viaProxy(slave.port, `http://127.0.0.1:${upstream.port}/from-outside`);
        expect(res.status).toBe(403);
        expect(res.body.toString()).toContain('client address 127.0.0.1 is not allowed to use this proxy');
        expect((await rawRequest(slave.port, `CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n`)).status).toBe(403);
        expect(upstream.seen.length).toBe(before);
      } finally {
        await slave.stop('SIGKILL');
      }
    });
  });

  describe('strict parsing', () => {
    const target = (): string => `http://127.0.0.1:${upstream.port}/bad`;
    const cases: Array<[string, () => string, number]> = [
      [
        'Content-Length with Transfer-Encoding',
        () =>
          `POST ${target()} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        400,
      ],
      ['CR inside a header value', () => `GET ${target()} HTTP/1.1\r\nHost: x\r\nX-Evil: a\rInjected: b\r\n\r\n`, 400],
      ['LF inside a header value', () => `GET ${target()} HTTP/1.1\r\nHost: x\r\nX-Evil: a\nInjected: b\r\n\r\n`, 400],
      ['space before the colon', () => `GET ${target()} HTTP/1.1\r\nHost : x\r\n\r\n`, 400],
      ['oversized headers', () => `GET ${target()} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`, 431],
      ['bad Host header', () => `GET ${target()} HTTP/1.1\r\nHost: bad host\r\n\r\n`, 400],
      ['Host with userinfo', () => `GET ${target()} HTTP/1.1\r\nHost: user@x\r\n\r\n`, 400],
      ['two Host headers', () => `GET ${target()} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n`, 400],
      ['missing Host (HTTP/1.1)', () => `GET ${target()} HTTP/1.1\r\n\r\n`, 400],
      ['invalid Content-Length', () => `POST ${target()} HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n`, 400],
      ['origin-form request', () => `GET /bad HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`, 400],
      ['unsupported scheme', () => `GET ftp://127.0.0.1/bad HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
      [
        'credentials in the URL',
        () => `GET http://u:p@127.0.0.1:${upstream.port}/bad HTTP/1.1\r\nHost: x\r\n\r\n`,
        400,
      ],
    ];

    it('answers 508 to a request that already passed through this proxy (Via loop)', async () => {
      const before = upstream.seen.length;
      const res = await rawRequest(
        open.port,
        `GET ${target()} HTTP/1.1\r\nHost: x\r\nVia: 1.1 other, 1.1 e2e-slave (safesquid)\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status).toBe(508);
      expect(res.body).toContain('forwarding loop');
      expect(upstream.seen.length).toBe(before);
    });

    it.each(cases)('answers %s with the right status and forwards nothing', async (_name, request, status) => {
      const before = upstream.seen.length;
      const res = await rawRequest(open.port, request());
      expect(res.status).toBe(status);
      expect(upstream.seen.length).toBe(before);
    });
  });

  describe('slow clients and limits', () => {
    it('answers 408 when request headers do not arrive in time', async () => {
      const started = Date.now();
      const res = await rawRequest(
        open.port,
        `GET http://127.0.0.1:${upstream.port}/slow HTTP/1.1\r\nHost: x\r\n`,
        5000,
      );
      expect(res.status).toBe(408);
      expect(Date.now() - started).toBeLessThan(4000);
    });

    it('answers 408 to a new connection that sends nothing in time', async () => {
      const started = Date.now();
      const res = await rawRequest(open.port, '', 5000);
      expect(res.status).toBe(408);
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it('closes idle keep-alive connections', async () => {
      const socket = net.connect(open.port, '127.0.0.1');
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
      socket.write(`GET http://127.0.0.1:${upstream.port}/idle HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until('the response', () => got.includes('"/idle"') || undefined);
      const answered = Date.now();
      expect((await closed) - answered).toBeLessThan(4000);
    });

    it('caps concurrent tunnels with a clear 503', async () => {
      const first = net.connect(open.port, '127.0.0.1');
      let got = '';
      first.on('data', (d: Buffer) => (got += d.toString()));
      first.write(`CONNECT 127.0.0.1:${holdPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until('first tunnel', () => got.includes('200 Connection Established') || undefined);
      const second = await rawRequest(open.port, `CONNECT 127.0.0.1:${holdPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(second.status).toBe(503);
      expect(second.body).toContain('tunnel limit (1)');
      expect(held).toHaveLength(1);
      first.destroy();
    });

    it('caps concurrent connections with a clear 503', async () => {
      await until(
        'earlier connections to close',
        async () =>
          (await fetch(`http://127.0.0.1:${open.metricsPort}/metrics`).then((r) => r.text())).includes(
            'safesquid_proxy_active_connections 0',
          ) || undefined,
      );
      const idle = await Promise.all(
        Array.from(
          { length: 4 },
          () =>
            new Promise<net.Socket>((r) => {
              const s = net.connect(open.port, '127.0.0.1', () => r(s));
            }),
        ),
      );
      try {
        const res = await rawRequest(
          open.port,
          `GET http://127.0.0.1:${upstream.port}/over HTTP/1.1\r\nHost: x\r\n\r\n`,
        );
        expect(res.status).toBe(503);
        expect(res.body).toContain('connection limit (4)');
        expect(upstream.seen.some((r) => r.url === '/over')).toBe(false);
      } finally {
        for (const s of idle) s.destroy();
      }
    });
  });
});
