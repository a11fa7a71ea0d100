/**
 * HTTPS through CONNECT with curl and raw sockets: the tunnel to a real TLS upstream, port
 * restriction, policy on host before the tunnel opens, half-close, bulk transfer, and TLS
 * origination for `GET https://...` requests.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rawRequest, viaProxy, writePolicy } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const BULK = randomBytes(24 * 1024 * 1024);

describe('slave CONNECT tunnels', () => {
  const dir = tempDir('connect');
  let tlsServer: https.Server;
  let tlsPort: number;
  let tcpServer: net.Server;
  let tcpPort: number;
  let closedPort: number;
  let bulkServer: net.Server;
  let bulkPort: number;
  let slave: SlaveProcess;
  const cert = join(dir.path, 'cert.pem');

  beforeAll(async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir.path, 'key.pem'),
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    tlsServer = https.createServer(
      { key: readFileSync(join(dir.path, 'key.pem')), cert: readFileSync(cert) },
      (req, res) => {
        if (req.url === '/bulk') {
          res
            .writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(BULK.length) })
            .end(BULK);
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`tls ok ${req.url} via=${req.headers.via ?? '-'}`);
      },
    );
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
    // A plain TCP service that answers only after the client half-closed its side.
    tcpServer = net.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => s.end(`received ${n} bytes after your FIN`));
    });
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));
    tcpPort = (tcpServer.address() as AddressInfo).port;
    // Plain TCP bulk: small and large writes mixed, so the tunnel's reads vary in size.
    bulkServer = net.createServer((s) => {
      s.on('error', () => {});
      let pos = 0;
      let i = 0;
      const pump = (): void => {
        while (pos < BULK.length) {
          const size = [100, 70_000, 3_000, 1 << 20, 16 * 1024][i++ % 5];
          const piece = BULK.subarray(pos, pos + size);
          pos += piece.length;
          if (!s.write(piece)) {
            s.once('drain', pump);
            return;
          }
        }
        s.end();
      };
      pump();
    });
    await new Promise<void>((r) => bulkServer.listen(0, '127.0.0.1', r));
    bulkPort = (bulkServer.address() as AddressInfo).port;
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));

    writePolicy(
      join(dir.path, 'policy.yaml'),
      'connect-e2e',
      `
rules:
  - name: no-forbidden-host
    action: deny
    message: That host is off limits
    match: {domains: [forbidden.example]}
  - name: allow-rest
    action: allow
accessRestriction:
  defaultAction: deny
  connectPorts: [443, ${tlsPort}, ${tcpPort}, ${closedPort}, ${bulkPort}]
  ssrf: {allowRanges: [127.0.0.0/8, "::1/128"]}
`,
    );
    slave = await startSlave(['--policy', join(dir.path, 'policy.yaml')], { env: { NODE_EXTRA_CA_CERTS: cert } });
  });

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    tlsServer?.closeAllConnections();
    await new Promise((r) => tlsServer?.close(r));
    await new Promise((r) => tcpServer?.close(r));
    await new Promise((r) => bulkServer?.close(r));
    dir.remove();
  });

  it('tunnels HTTPS for curl, end to end TLS (the proxy adds no headers inside)', async () => {
    const { stdout } = await run('curl', [
      '-sS',
      '--cacert',
      cert,
      '-x',
      `http://127.0.0.1:${slave.port}`,
      `https://127.0.0.1:${tlsPort}/secure`,
    ]);
    expect(stdout).toBe('tls ok /secure via=-');
  });

  it('carries a 24 MiB download intact through the tunnel', async () => {
    const out = join(dir.path, 'bulk.bin');
    await run(
      'curl',
      ['-sS', '--cacert', cert, '-x', `http://127.0.0.1:${slave.port}`, '-o', out, `https://127.0.0.1:${tlsPort}/bulk`],
      { maxBuffer: 1 << 20 },
    );
    const got = readFileSync(out);
    expect(got.length).toBe(BULK.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(BULK).digest('hex'));
  });

  it('carries reads of every size intact to a client that keeps stalling (back-pressure)', async () => {
    const socket = net.connect(slave.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let head = '';
    let received = 0;
    try {
      const done = new Promise<void>((resolve, reject) => {
        socket.on('error', reject);
        socket.on('end', () => resolve());
        socket.on('data', (d: Buffer) => {
          if (!head.includes('\r\n\r\n')) {
            head += d.toString('latin1');
            const at = head.indexOf('\r\n\r\n');
            if (at === -1) return;
            d = Buffer.from(head.slice(at + 4), 'latin1');
            head = head.slice(0, at + 4);
          }
          chunks.push(d);
          received += d.length;
          // Stall now and then, so the proxy's writes to this client queue up.
          if (chunks.length % 40 === 0) {
            socket.pause();
            setTimeout(() => socket.resume(), 30);
          }
        });
      });
      socket.write(`CONNECT 127.0.0.1:${bulkPort} HTTP/1.1\r\nHost: 127.0.0.1:${bulkPort}\r\n\r\n`);
      await done;
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect(received).toBe(BULK.length);
      expect(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')).toBe(
        createHash('sha256').update(BULK).digest('hex'),
      );
    } finally {
      socket.destroy();
    }
  });

  it('refuses CONNECT to ports outside connectPorts before dialling', async () => {
    // A live service on a port the policy does not list: it must never see a connection.
    let reached = 0;
    const other = net.createServer((s) => {
      reached++;
      s.destroy();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as AddressInfo).port;
    try {
      const res = await rawRequest(slave.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      expect(res.status).toBe(403);
      expect(res.body).toContain(`CONNECT to port ${port} is not allowed`);
      expect(reached).toBe(0);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('decides policy on the CONNECT host before opening the tunnel', async () => {
    const res = await rawRequest(
      slave.port,
      `CONNECT forbidden.example:443 HTTP/1.1\r\nHost: forbidden.example:443\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.body).toContain('no-forbidden-host');
    expect(res.body).toContain('That host is off limits');
  });

  it('passes a client half-close through and still delivers the answer', async () => {
    const socket = net.connect({ port: slave.port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    socket.write(`CONNECT 127.0.0.1:${tcpPort} HTTP/1.1\r\nHost: 127.0.0.1:${tcpPort}\r\n\r\n`);
    await until('tunnel established', () => received.includes('\r\n\r\n') || undefined);
    expect(received).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\n$/);
    socket.write(Buffer.alloc(100_000, 1));
    socket.end();
    await ended;
    expect(received).toContain('received 100000 bytes after your FIN');
    socket.destroy();
  });

  it('answers 502 when the tunnel target refuses the connection', async () => {
    const res = await rawRequest(slave.port, `CONNECT 127.0.0.1:${closedPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.status).toBe(502);
    expect(res.body).toMatch(/ECONNREFUSED/);
  });

  it('rejects malformed CONNECT targets with 400', async () => {
    for (const t of ['127.0.0.1', '127.0.0.1:99999', 'a b:443', '[::1:443']) {
      const res = await rawRequest(slave.port, `CONNECT ${t} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect([t, res.status]).toEqual([t, 400]);
    }
  });

  it('originates TLS for absolute-form https:// requests, verifying the upstream certificate', async () => {
    const res = await viaProxy(slave.port, `https://127.0.0.1:${tlsPort}/originated`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('tls ok /originated via=1.1 e2e-slave (safesquid)');
    // By name: TCP goes to the checked address, TLS verifies the certificate against the name.
    const byName = await viaProxy(slave.port, `https://localhost:${tlsPort}/named`);
    expect(byName.status).toBe(200);
    expect(byName.body.toString()).toBe('tls ok /named via=1.1 e2e-slave (safesquid)');
  });

  it('answers 502 when the upstream certificate cannot be verified, and sends it nothing', async () => {
    const key = join(dir.path, 'other-key.pem');
    const other = join(dir.path, 'other-cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=other.example',
        '-addext',
        'subjectAltName=DNS:other.example',
        '-keyout',
        key,
        '-out',
        other,
      ],
      { stdio: 'ignore' },
    );
    let requests = 0;
    const untrusted = https.createServer({ key: readFileSync(key), cert: readFileSync(other) }, (_req, res) => {
      requests++;
      res.end('should not be reached');
    });
    await new Promise<void>((r) => untrusted.listen(0, '127.0.0.1', r));
    try {
      const res = await viaProxy(slave.port, `https://127.0.0.1:${(untrusted.address() as AddressInfo).port}/secret`);
      expect(res.status).toBe(502);
      expect(res.body.toString()).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME_INVALID/);
      expect(requests).toBe(0);
    } finally {
      untrusted.closeAllConnections();
      await new Promise((r) => untrusted.close(r));
    }
  });
});
