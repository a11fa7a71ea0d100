/**
 * Heads with too many header fields: node:http's parser keeps only the first ~1 000 fields and
 * drops the rest silently, so a request whose `Authorization` is the 1 100th field reached the
 * upstream without it. The slave refuses such a request with 431 and such a response with 502, on
 * every path (fast path, undici relay, node:http client for 100-continue, upgrades, CONNECT).
 */
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rawRequest, type RawResponse, startUpstream, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';

/** `count` header field lines, the last one `last` (short ones: 1 100 of them stay under the 16 KiB head limits). */
function fields(count: number, last: string): string {
  let text = '';
  for (let i = 1; i < count; i++) text += `X-${i}: ${i}\r\n`;
  return `${text}${last}\r\n`;
}

/** The final response (after any `100 Continue`): status, head and content. */
function final(res: RawResponse): { status: number; head: string; content: string } {
  const raw = res.raw.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
  const split = raw.indexOf('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]),
    head: raw.slice(0, split),
    content: raw.slice(split + 4),
  };
}

describe('header field count', () => {
  const dir = tempDir('hdrcount');
  let upstream: Upstream;
  let manyFields: net.Server; // answers every request with `responseFields` fields, the last X-Last
  let manyPort: number;
  let responseFields = 1100;
  let slave: SlaveProcess;

  beforeAll(async () => {
    upstream = await startUpstream();
    // Node's own server would drop the trailing fields itself; count them in the upstream instead.
    upstream.server.maxHeadersCount = 0;
    manyFields = net.createServer((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        if (/^expect: 100-continue/im.test(buf) && !buf.includes('sent-continue')) {
          buf += 'sent-continue';
          s.write('HTTP/1.1 100 Continue\r\n\r\n');
        }
        if (/^upgrade:/im.test(buf)) {
          s.end(
            `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${fields(responseFields, 'X-Last: yes')}\r\n`,
          );
          return;
        }
        s.end(
          `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n${fields(responseFields, 'X-Last: yes')}\r\nok`,
        );
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => manyFields.listen(0, '127.0.0.1', r));
    manyPort = (manyFields.address() as AddressInfo).port;
    writePolicy(
      join(dir.path, 'p.yaml'),
      'hdrcount',
      `rules:\n  - {name: all, action: allow}\naccessRestriction:\n  defaultAction: deny\n  connectPorts: [${upstream.port}]\n  ssrf: {allowRanges: [127.0.0.0/8]}`,
    );
    slave = await startSlave(['--policy', join(dir.path, 'p.yaml')]);
  });

  afterAll(async () => {
    await slave?.stop();
    await new Promise((r) => manyFields?.close(r));
    await upstream?.close();
    dir.remove();
  });

  describe('requests', () => {
    const u = () => `127.0.0.1:${upstream.port}`;
    it.each([
      ['bodiless GET (fast path, handed to node:http)', () => `GET http://${u()}/a HTTP/1.1\r\nHost: ${u()}\r\n`],
      [
        'POST with a body (undici relay)',
        () => `POST http://${u()}/a HTTP/1.1\r\nHost: ${u()}\r\nContent-Length: 2\r\n`,
      ],
      [
        'Expect: 100-continue (node:http client)',
        () => `POST http://${u()}/a HTTP/1.1\r\nHost: ${u()}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n`,
      ],
      [
        'an upgrade',
        () => `GET http://${u()}/a HTTP/1.1\r\nHost: ${u()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`,
      ],
      ['CONNECT', () => `CONNECT ${u()} HTTP/1.1\r\nHost: ${u()}\r\n`],
    ])('%s with Authorization as the 1100th field: 431, nothing forwarded', async (_what, start) => {
      const before = upstream.seen.length;
      const first = start();
      const count = 1100 - first.split('\r\n').length + 2;
      const res = await rawRequest(
        slave.port,
        `${first}${fields(count, 'Authorization: Bearer secret-token')}\r\n${first.includes('Content-Length') ? 'ok' : ''}`,
      );
      expect(res.status).toBe(431);
      expect(res.content).toContain('more than 1000 header fields');
      expect(upstream.seen.length).toBe(before);
    });

    it('forwards a request with 990 fields whole, Authorization included', async () => {
      const res = await rawRequest(
        slave.port,
        `GET http://${u()}/b HTTP/1.1\r\nHost: ${u()}\r\nConnection: close\r\n${fields(988, 'Authorization: Bearer secret-token')}\r\n`,
      );
      expect(res.status).toBe(200);
      const seen = upstream.seen.at(-1)!;
      expect(seen.url).toBe('/b');
      expect(seen.headers.authorization).toBe('Bearer secret-token');
      expect(seen.headers['x-987']).toBe('987');
    });
  });

  describe('responses', () => {
    const m = () => `127.0.0.1:${manyPort}`;
    const cases: [string, () => string][] = [
      ['GET (fast path)', () => `GET http://${m()}/ HTTP/1.1\r\nHost: ${m()}\r\nConnection: close\r\n\r\n`],
      [
        'POST with a body (undici relay)',
        () => `POST http://${m()}/ HTTP/1.1\r\nHost: ${m()}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`,
      ],
      [
        'Expect: 100-continue (node:http client)',
        () =>
          `POST http://${m()}/ HTTP/1.1\r\nHost: ${m()}\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nok`,
      ],
      [
        'an upgrade (node:http client)',
        () => `GET http://${m()}/ HTTP/1.1\r\nHost: ${m()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      ],
    ];

    it.each(cases)('%s: 1100 fields from the upstream give 502, no truncated head', async (_what, text) => {
      responseFields = 1100;
      const res = final(await rawRequest(slave.port, text()));
      expect(res.status).toBe(502);
      expect(res.content).toContain('more than 1000 header fields');
      expect(res.head).not.toContain('X-1:');
    });

    it.each(cases.filter(([what]) => !what.includes('upgrade')))(
      '%s: 990 fields are relayed whole',
      async (_what, text) => {
        responseFields = 990;
        const res = final(await rawRequest(slave.port, text()));
        expect(res.status).toBe(200);
        expect(res.head).toContain('\r\nX-989: 989\r\n');
        expect(res.head).toContain('\r\nX-Last: yes');
      },
    );
  });
});
