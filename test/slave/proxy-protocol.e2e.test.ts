/**
 * A slave behind a load balancer in TCP mode that sends the PROXY protocol: connections from the
 * trusted balancer address (127.0.0.1 here) carry a v1 or v2 header naming the client, and the
 * client it names is the one policy, X-Forwarded-For and access records see. Without a valid
 * header such a connection is closed unread; from any other address a header is just bad HTTP.
 */
import net from 'node:net';
import { join } from 'node:path';
import { metricsText, startUpstream, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2Header(command: 'PROXY' | 'LOCAL', source = '0.0.0.0'): Buffer {
  if (command === 'LOCAL') return Buffer.concat([V2_SIG, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const addresses = Buffer.from([...source.split('.').map(Number), 127, 0, 0, 1, 0x30, 0x39, 0x0c, 0x38]);
  return Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0x00, addresses.length]), addresses]);
}

/**
 * Writes `parts` to the slave (a pause between them, so a header can arrive in pieces) from
 * `localAddress`, and reads until the slave closes or `timeoutMs`: the answers as text.
 */
function exchange(
  port: number,
  parts: (string | Buffer)[],
  localAddress = '127.0.0.1',
  timeoutMs = 2000,
): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', done);
    socket.on('error', done);
    socket.on('connect', async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 30));
        socket.write(p);
      }
    });
  });
}

const statuses = (answer: string) => [...answer.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));

describe('slave behind a PROXY protocol load balancer', () => {
  const dir = tempDir('proxy-protocol');
  let upstream: Upstream;
  let slave: SlaveProcess;
  let get: (path: string, extra?: string) => string;

  beforeAll(async () => {
    upstream = await startUpstream();
    writePolicy(
      join(dir.path, 'policy.yaml'),
      'pp',
      `
rules:
  - name: no-test-net-3
    action: deny
    message: not from 203.0.113.0/24
    match: {sources: [203.0.113.0/24]}
  - name: allow-rest
    action: allow
accessRestriction:
  defaultAction: deny
  # the clients the PROXY headers name are documentation addresses, outside the local default
  allowedClients: [127.0.0.0/8, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24]
  connectPorts: [${upstream.port}]
  ssrf: {allowRanges: [127.0.0.0/8]}
`,
    );
    slave = await startSlave([
      '--policy',
      join(dir.path, 'policy.yaml'),
      '--access-log',
      'json',
      '--header-timeout',
      '400',
      '--proxy-protocol-from',
      '127.0.0.1/32',
    ]);
    get = (path, extra = '') =>
      `GET http://127.0.0.1:${upstream.port}/${path} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n${extra}\r\n`;
  });

  afterAll(async () => {
    await slave?.stop();
    await upstream?.close();
    dir.remove();
  });

  /** The access log's client for the request to `path`. */
  const loggedClient = (path: string) =>
    until(`the access log line of /${path}`, () => {
      const line = slave
        .stdout()
        .split('\n')
        .find((l) => l.includes(`/${path}"`));
      return line ? (JSON.parse(line) as { client: string }).client : undefined;
    });
  const forwardedFor = (path: string) => upstream.seen.find((r) => r.url === `/${path}`)?.headers['x-forwarded-for'];

  it('takes the client from a v1 header: X-Forwarded-For, access record and policy sources', async () => {
    const answer = await exchange(slave.port, [
      `PROXY TCP4 192.0.2.7 127.0.0.1 51000 3128\r\n${get('v1-a')}${get('v1-b', 'Connection: close\r\n')}`,
    ]);
    expect(statuses(answer)).toEqual([200, 200]);
    expect(forwardedFor('v1-a')).toBe('192.0.2.7');
    expect(forwardedFor('v1-b')).toBe('192.0.2.7');
    expect(await loggedClient('v1-b')).toBe('192.0.2.7');

    const denied = await exchange(slave.port, [
      `PROXY TCP4 203.0.113.9 127.0.0.1 51000 3128\r\n${get('v1-denied', 'Connection: close\r\n')}`,
    ]);
    expect(statuses(denied)).toEqual([403]);
    expect(denied).toContain('not from 203.0.113.0/24');
    expect(forwardedFor('v1-denied')).toBeUndefined();
  });

  it("takes the client from a v2 header that arrives in pieces, and keeps the balancer's own address for LOCAL", async () => {
    const header = v2Header('PROXY', '198.51.100.23');
    const answer = await exchange(slave.port, [
      header.subarray(0, 5),
      header.subarray(5, 17),
      Buffer.concat([header.subarray(17), Buffer.from(get('v2', 'Connection: close\r\n'))]),
    ]);
    expect(statuses(answer)).toEqual([200]);
    expect(forwardedFor('v2')).toBe('198.51.100.23');
    expect(await loggedClient('v2')).toBe('198.51.100.23');

    const local = await exchange(slave.port, [
      Buffer.concat([v2Header('LOCAL'), Buffer.from(get('v2-local', 'Connection: close\r\n'))]),
    ]);
    expect(statuses(local)).toEqual([200]);
    expect(forwardedFor('v2-local')).toBe('127.0.0.1');
  });

  it('tunnels CONNECT for the client the header names', async () => {
    const answer = await exchange(slave.port, [
      `PROXY TCP4 192.0.2.44 127.0.0.1 51000 3128\r\nCONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`,
      `GET /through-tunnel HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nConnection: close\r\n\r\n`,
    ]);
    expect(statuses(answer)).toEqual([200, 200]);
    expect(upstream.seen.some((r) => r.url === '/through-tunnel')).toBe(true);
    expect(
      await until("the tunnel's access log line", () =>
        slave
          .stdout()
          .split('\n')
          .find((l) => l.includes('"CONNECT"') && l.includes('"192.0.2.44"')),
      ),
    ).toBeTruthy();
  });

  it('closes a trusted connection without a valid header unread, and one that sends no header in time', async () => {
    const before = upstream.seen.length;
    expect(await exchange(slave.port, [get('no-header', 'Connection: close\r\n')])).toBe('');
    expect(await exchange(slave.port, ['PROXY TCP4 192.0.2.7 nonsense 1 2\r\n', get('bad-header')])).toBe('');
    const started = Date.now();
    expect(await exchange(slave.port, [], '127.0.0.1', 3000)).toBe('');
    expect(Date.now() - started).toBeLessThan(2500);
    expect(upstream.seen.length).toBe(before);
    const metrics = await metricsText(slave.metricsPort);
    expect(metrics).toMatch(/^safesquid_proxy_rejected_total\{reason="proxy-protocol"\} 3$/m);
    expect(slave.stderr()).toContain('closed a connection from a PROXY protocol load balancer: no valid header');
  });

  it('lets a balancer connect and close without a header (a TCP health check) unrecorded, and refuses one that ends inside a header', async () => {
    const refusals = () =>
      slave
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"error:proxy-protocol"')).length;
    const rejected = async () =>
      Number(
        /^safesquid_proxy_rejected_total\{reason="proxy-protocol"\} (\d+)$/m.exec(
          await metricsText(slave.metricsPort),
        )?.[1] ?? 0,
      );
    const [recordsBefore, rejectedBefore] = [refusals(), await rejected()];
    /** Connects from the trusted balancer, writes `bytes`, half-closes, and waits for the slave to close. */
    const connectAndEnd = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const c = net.connect({ port: slave.port, host: '127.0.0.1' }, () => c.end(bytes));
        c.resume();
        c.on('close', () => resolve());
      });
    for (let i = 0; i < 5; i++) await connectAndEnd(Buffer.alloc(0));
    await connectAndEnd(v2Header('PROXY', '198.51.100.9').subarray(0, 20));
    expect(
      await until('the cut header counted', async () => ((await rejected()) === rejectedBefore + 1 ? true : undefined)),
    ).toBe(true);
    expect(await until("the cut header's record", () => (refusals() === recordsBefore + 1 ? true : undefined))).toBe(
      true,
    );
    // Past the 400 ms header timeout, which would have refused the silent ones had they been kept open.
    await new Promise((r) => setTimeout(r, 600));
    expect([refusals(), await rejected()]).toEqual([recordsBefore + 1, rejectedBefore + 1]);
  });

  it('serves other addresses as plain HTTP, where a header cannot pass for a client address', async () => {
    const plain = await exchange(slave.port, [get('untrusted', 'Connection: close\r\n')], '127.0.0.2');
    expect(statuses(plain)).toEqual([200]);
    expect(forwardedFor('untrusted')).toBe('127.0.0.2');

    const spoof = await exchange(
      slave.port,
      [`PROXY TCP4 192.0.2.99 127.0.0.1 51000 3128\r\n${get('spoofed', 'Connection: close\r\n')}`],
      '127.0.0.2',
    );
    expect(statuses(spoof)).toEqual([400]);
    expect(forwardedFor('spoofed')).toBeUndefined();
  });
});
