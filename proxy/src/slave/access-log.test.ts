import { PassThrough } from 'node:stream';
import type { AccessRecord } from '../reports/access-record.js';
import { AccessLog, formatSquidLine } from './access-log.js';

const base: AccessRecord = {
  time: 1_700_000_000_123,
  slave: 's',
  client: '10.1.2.3',
  method: 'GET',
  host: 'example.com',
  url: 'http://example.com/a',
  status: 200,
  bytesUp: 120,
  bytesDown: 5120,
  durationMs: 42,
  action: 'allow',
};

describe('access log', () => {
  it('writes Squid native lines: time, elapsed, client, code/status, bytes, method, URL, user, hierarchy, type', () => {
    expect(formatSquidLine({ ...base, user: 'alice smith' }, { peer: '93.184.216.34', mimeType: 'text/html' })).toBe(
      '1700000000.123     42 10.1.2.3 TCP_MISS/200 5120 GET http://example.com/a alice%20smith HIER_DIRECT/93.184.216.34 text/html',
    );
    expect(formatSquidLine({ ...base, status: 403, action: 'deny' }, {})).toContain(
      ' TCP_DENIED/403 5120 GET http://example.com/a - HIER_NONE/- -',
    );
    expect(
      formatSquidLine({ ...base, method: 'CONNECT', url: 'example.com:443' }, { peer: '93.184.216.34' }),
    ).toContain(' TCP_TUNNEL/200 ');
  });

  it('batches lines into one write per event-loop turn, as JSON when asked', async () => {
    const out = new PassThrough();
    const writes: string[] = [];
    out.on('data', (d: Buffer) => writes.push(d.toString()));
    const log = new AccessLog('json', out);
    log.write(base, { peer: '1.2.3.4' });
    log.write({ ...base, url: 'http://example.com/b' }, {});
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    const lines = writes[0]
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { ...base, peer: '1.2.3.4' },
      { ...base, url: 'http://example.com/b' },
    ]);
  });
});
