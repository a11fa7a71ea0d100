import { Writable } from 'node:stream';
import { pino } from 'pino';
import { LogForwarder } from './shipper-logs.js';
import { MAX_LOG_DETAIL } from './slave-stats-protocol.js';

const line = (level: string, msg: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level, time: '2026-01-01T00:00:00.000Z', msg, role: 'slave', name: 's1', pid: 1, ...extra });

test('lets `burst` lines through per window, counts the rest, and says so on the next line', () => {
  let now = 0;
  const f = new LogForwarder({ burst: 3, windowMs: 1000, now: () => now });
  for (let i = 0; i < 10; i++) f.write(line('warn', `w${i}`));
  expect(f.peek(50).map((l) => l.msg)).toEqual(['w0', 'w1', 'w2']);
  expect(f.dropped).toBe(7);
  now = 1000;
  f.write(line('error', 'next'));
  const last = f.peek(50).at(-1)!;
  expect(last).toMatchObject({ msg: 'next', level: 'error', suppressedBefore: 7 });
  expect(last.time).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
});

test('keeps only warn, error and fatal lines, and the fields that are not the base ones', () => {
  const f = new LogForwarder();
  f.write(line('info', 'started'));
  f.write(line('debug', 'noise'));
  f.write('not json');
  f.write(line('warn', 'master unreachable', { component: 'policy-sync', err: { message: 'x', stack: 'long' } }));
  expect(f.peek(50)).toEqual([
    {
      time: Date.parse('2026-01-01T00:00:00.000Z'),
      level: 'warn',
      msg: 'master unreachable',
      detail: '{"component":"policy-sync","err":{"message":"x"}}',
    },
  ]);
});

test('cuts long details and bounds what waits for the master, oldest first out', () => {
  const f = new LogForwarder({ burst: 1000, maxPending: 5, maxRecent: 2 });
  f.write(line('error', 'big', { blob: 'x'.repeat(5000) }));
  expect(f.peek(1)[0].detail!.length).toBe(MAX_LOG_DETAIL);
  for (let i = 0; i < 10; i++) f.write(line('warn', `w${i}`));
  expect(f.peek(50).map((l) => l.msg)).toEqual(['w5', 'w6', 'w7', 'w8', 'w9']);
  expect(f.dropped).toBe(6);
  expect(f.recent().map((l) => l.msg)).toEqual(['w8', 'w9']);
});

test('ack removes exactly the lines sent, even when the bound pushed some out meanwhile', () => {
  const f = new LogForwarder({ burst: 1000, maxPending: 3 });
  for (const m of ['a', 'b', 'c']) f.write(line('warn', m));
  const sent = f.peek(2);
  for (const m of ['d', 'e']) f.write(line('warn', m)); // pushes a and b out
  f.ack(sent);
  expect(f.peek(50).map((l) => l.msg)).toEqual(['c', 'd', 'e']);
  expect(f.waiting).toBe(3);
});

test('tap sees the warnings of a real pino logger and its children, and the destination still gets every line', () => {
  const written: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ formatters: { level: (label) => ({ level: label }) } }, dest);
  const f = new LogForwarder().tap(logger);
  logger.info('hello');
  logger.child({ component: 'policy-sync' }).warn({ reason: 'ECONNREFUSED' }, 'master unreachable');
  logger.error('boom');
  expect(written.length).toBe(3);
  expect(f.peek(50).map((l) => [l.level, l.msg, l.detail])).toEqual([
    ['warn', 'master unreachable', '{"component":"policy-sync","reason":"ECONNREFUSED"}'],
    ['error', 'boom', undefined],
  ]);
});
