/**
 * The slave in-process: every request and tunnel becomes an access record in the queue the
 * report shipper drains. Real sockets on 127.0.0.1, a real policy file compiled by the engine.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startSlave, type Slave } from './slave.js';
import { drainRecords } from '../reports/record-queue.testkit.js';

function send(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n\r\n')) {
        s.destroy();
        resolve(got);
      }
    });
    s.write(text);
  });
}

describe('slave access records', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safesquid-slave-unit-'));
  let upstream: http.Server;
  let upstreamPort: number;
  let slave: Slave;

  beforeAll(async () => {
    upstream = http.createServer((_req, res) =>
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<p>hi</p>'),
    );
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;
    writeFileSync(
      join(dir, 'policy.yaml'),
      `rules:
  - name: deny-secret
    action: deny
    match: {urlRegex: "^/secret"}
  - name: allow-rest
    action: allow
categories:
  - name: local
    domains: [127.0.0.1]
accessRestriction:
  defaultAction: deny
  connectPorts: [${upstreamPort}]
  ssrf: {allowRanges: [127.0.0.0/8]}
`,
    );
    slave = await startSlave({
      name: 'unit-slave',
      logger: pino({ level: 'silent' }),
      listen: [{ host: '127.0.0.1', port: 0 }],
      policyFile: join(dir, 'policy.yaml'),
      stateDir: join(dir, 'state'),
    });
  });

  afterAll(async () => {
    await slave?.stop(0);
    await new Promise((r) => upstream?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('queues one record per request and per tunnel, with action, rule, bytes and policy hash', async () => {
    const port = slave.proxyAddresses[0].port;
    await send(port, `GET http://127.0.0.1:${upstreamPort}/page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await send(port, `GET http://127.0.0.1:${upstreamPort}/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const tunnel = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => {
      tunnel.once('data', () => resolve());
      tunnel.write(`CONNECT 127.0.0.1:${upstreamPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
    tunnel.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((r) => tunnel.once('close', r));
    await new Promise((r) => setTimeout(r, 50));

    const records = drainRecords(slave.queue!, 10, 'unit-slave');
    expect(records).toHaveLength(3);
    const hash = slave.active.hash;
    expect(records[0]).toMatchObject({
      slave: 'unit-slave',
      client: '127.0.0.1',
      method: 'GET',
      host: '127.0.0.1',
      url: `http://127.0.0.1:${upstreamPort}/page`,
      status: 200,
      action: 'allow',
      rule: 'allow-rest',
      category: 'local',
      policyHash: hash,
    });
    expect(records[0].bytesDown).toBeGreaterThan(9);
    expect(records[0].bytesUp).toBeGreaterThan(0);
    expect(records[1]).toMatchObject({ status: 403, action: 'deny', rule: 'deny-secret' });
    expect(records[2]).toMatchObject({
      method: 'CONNECT',
      url: `127.0.0.1:${upstreamPort}`,
      status: 200,
      action: 'allow',
    });
    expect(records[2].bytesUp).toBeGreaterThan(30);
    expect(records[2].bytesDown).toBeGreaterThan(9);
  });

  it('persists the policy in force to the state directory for the next start', async () => {
    const again = await startSlave({
      name: 'unit-slave-2',
      logger: pino({ level: 'silent' }),
      listen: [{ host: '127.0.0.1', port: 0 }],
      stateDir: join(dir, 'state'),
    });
    try {
      expect(again.active.hash).toBe(slave.active.hash);
      expect(again.active.currentSource).toBe('state');
    } finally {
      await again.stop(0);
    }
  });
});

describe('a host with several addresses, the first refusing connections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safesquid-slave-failover-'));
  let upstream: http.Server;
  let upstreamPort: number;
  let slave: Slave;
  // Stands in for DNS: each name's first address has nothing listening on the upstream's port.
  const answers: Record<string, string[]> = {
    'multi-a.test': ['127.0.0.2', '127.0.0.1'],
    'multi-b.test': ['127.0.0.3', '127.0.0.1'],
    'multi-c.test': ['127.0.0.4', '127.0.0.1'],
  };

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${req.method} ok`));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;
    writeFileSync(
      join(dir, 'policy.yaml'),
      `rules:\n  - {name: allow-all, action: allow}\naccessRestriction:\n  defaultAction: deny\n  connectPorts: [${upstreamPort}]\n  ssrf: {allowRanges: [127.0.0.0/8]}\n`,
    );
    slave = await startSlave({
      name: 'failover-slave',
      logger: pino({ level: 'silent' }),
      listen: [{ host: '127.0.0.1', port: 0 }],
      policyFile: join(dir, 'policy.yaml'),
      stateDir: join(dir, 'state'),
      resolver: async (host) => (answers[host] ?? []).map((address) => ({ address, family: 4 })),
    });
  });

  afterAll(async () => {
    await slave?.stop(0);
    await new Promise((r) => upstream?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a GET to the next address within the same request', async () => {
    const port = slave.proxyAddresses[0].port;
    const got = await send(
      port,
      `GET http://multi-a.test:${upstreamPort}/page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('opens a tunnel to the next address within the same CONNECT', async () => {
    const port = slave.proxyAddresses[0].port;
    const got = await send(
      port,
      `CONNECT multi-b.test:${upstreamPort} HTTP/1.1\r\nHost: multi-b.test:${upstreamPort}\r\n\r\n`,
    );
    expect(got).toMatch(/^HTTP\/1\.1 200 Connection Established/);
  });

  it('answers a request with a body 502 naming the refusing address, and sends the next one elsewhere', async () => {
    const port = slave.proxyAddresses[0].port;
    const post = `POST http://multi-c.test:${upstreamPort}/form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`;
    const first = await send(port, post);
    expect(first).toMatch(/^HTTP\/1\.1 502 /);
    expect(first).toContain('127.0.0.4');
    expect(await send(port, post)).toMatch(/^HTTP\/1\.1 200 /);
  });
});
