/**
 * Not an open proxy by default: a slave whose policy names no `accessRestriction.allowedClients`
 * serves loopback and private ranges only, and says so when it starts. Clients from elsewhere are
 * brought in by the PROXY protocol (a trusted balancer on 127.0.0.1 names them), since every
 * connection a test can make on this machine comes from loopback.
 */
import net from 'node:net';
import { join } from 'node:path';
import { startUpstream, writePolicy, type Upstream } from './harness.js';
import { isSlaveStartedLine, startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';

/** One request from `client` (named in a PROXY v1 header), read until the slave closes: the status. */
function requestAs(port: number, client: string, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const family = client.includes(':') ? 'TCP6' : 'TCP4';
    const socket = net.connect({ port, host: '127.0.0.1' });
    let answer = '';
    socket.on('connect', () =>
      socket.write(`PROXY ${family} ${client} ${client.includes(':') ? '::1' : '127.0.0.1'} 51000 3128\r\n${request}`),
    );
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`no answer for ${client}: ${JSON.stringify(answer.slice(0, 200))}`));
    });
    socket.on('error', reject);
  });
}

describe('clients served without allowedClients', () => {
  const dir = tempDir('clients');
  let upstream: Upstream;
  let local: SlaveProcess;
  let open: SlaveProcess;
  const get = () =>
    `GET http://127.0.0.1:${upstream.port}/x HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nConnection: close\r\n\r\n`;

  beforeAll(async () => {
    upstream = await startUpstream();
    const rules =
      'rules:\n  - {name: all, action: allow}\naccessRestriction:\n  defaultAction: deny\n  ssrf: {allowRanges: [127.0.0.0/8]}';
    writePolicy(join(dir.path, 'local.yaml'), 'local', rules);
    writePolicy(join(dir.path, 'open.yaml'), 'open', `${rules}\n  allowedClients: [0.0.0.0/0, "::/0"]`);
    const args = (file: string) => ['--policy', join(dir.path, file), '--proxy-protocol-from', '127.0.0.1/32'];
    [local, open] = await Promise.all([startSlave(args('local.yaml')), startSlave(args('open.yaml'))]);
  });

  afterAll(async () => {
    await Promise.all([local?.stop(), open?.stop()]);
    await upstream?.close();
    dir.remove();
  });

  const started = (s: SlaveProcess) =>
    JSON.parse(s.stderr().split('\n').find(isSlaveStartedLine)!) as { clients: string };

  it('says at start which clients it serves', () => {
    expect(started(local).clients).toMatch(
      /^loopback and private ranges only \(10\.0\.0\.0\/8, .*fc00::\/7, ::1\/128\): the policy names no accessRestriction\.allowedClients$/,
    );
    expect(started(open).clients).toBe('every client (0.0.0.0/0, ::/0)');
  });

  it.each([
    ['127.0.0.5', 200],
    ['10.9.8.7', 200],
    ['172.20.0.1', 200],
    ['192.168.77.1', 200],
    ['100.64.3.4', 200],
    ['fd00::7', 200],
    ['::1', 200],
    ['192.0.2.7', 403],
    ['8.8.8.8', 403],
    ['169.254.10.10', 403],
    ['fe80::1', 403],
    ['2001:db8::7', 403],
  ])('%s gets %s', async (client, status) => {
    expect(await requestAs(local.port, client, get())).toBe(status);
  });

  it('serves everyone when the policy says 0.0.0.0/0 and ::/0', async () => {
    for (const client of ['192.0.2.7', '8.8.8.8', '2001:db8::7'])
      expect([client, await requestAs(open.port, client, get())]).toEqual([client, 200]);
  });
});
