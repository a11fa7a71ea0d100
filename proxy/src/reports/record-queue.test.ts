import { RecordQueue } from './record-queue.js';
import type { AccessRecord } from './access-record.js';
import { validateBatch } from './batch-validation.js';
import { ROW_COLUMNS } from './record-encoding.js';
import { drainRecords, rowBytes } from './record-queue.testkit.js';

const T0 = Date.UTC(2026, 0, 1);
const rec = (n: number, over: Partial<AccessRecord> = {}): AccessRecord => ({
  time: T0 + n,
  slave: 's',
  client: '127.0.0.1',
  method: 'GET',
  host: 'h',
  url: `http://h/${n}`,
  status: 200,
  bytesUp: 0,
  bytesDown: 0,
  durationMs: 0,
  action: 'allow',
  ...over,
});
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const times = (rs: AccessRecord[]) => rs.map((r) => r.time - T0);
const FIELDS = '"batchId":"b-1","slave":"s"';
/** What a batch of records without policy hashes has besides its rows. */
const FRAME_BYTES = `{${FIELDS},"policyHashes":{},"columns":${JSON.stringify(ROW_COLUMNS)},"rows":[]}`.length;
const parse = (json: Buffer) =>
  JSON.parse(json.toString('utf8')) as { policyHashes: Record<string, string>; rows: unknown[][] };

const drain = (q: RecordQueue, max: number) => drainRecords(q, max);

describe('RecordQueue', () => {
  it('drains oldest first in bounded chunks', () => {
    const q = new RecordQueue(10);
    for (let i = 0; i < 5; i++) q.push(rec(i));
    expect(times(drain(q, 3))).toEqual([0, 1, 2]);
    expect(times(drain(q, 10))).toEqual([3, 4]);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
    expect(drain(q, 10)).toEqual([]);
    q.push(rec(5));
    expect(drain(q, 0)).toEqual([]);
    expect(q.size).toBe(1);
  });

  it('gives back exactly the records pushed, optional fields only when set', () => {
    const q = new RecordQueue();
    const full = rec(1, {
      user: 'alice',
      rule: 'r1',
      category: 'news',
      policyHash: 'sha256:ab',
      action: 'deny',
      status: 403,
      bytesUp: 12,
      bytesDown: 3456,
      durationMs: 7,
    });
    q.push(full);
    q.push(rec(2));
    expect(drain(q, 10)).toEqual([full, rec(2)]);
  });

  it('drops the oldest at capacity and counts drops', () => {
    const q = new RecordQueue(3);
    for (let i = 0; i < 5; i++) q.push(rec(i));
    expect(q.dropped).toBe(2);
    expect(times(drain(q, 10))).toEqual([2, 3, 4]);
  });

  it('drops the oldest records past its byte bound, keeps the newest however long, and counts drops', () => {
    const one = rowBytes(rec(100));
    const q = new RecordQueue(1000, one * 10);
    for (let i = 100; i < 125; i++) q.push(rec(i));
    expect(q.size).toBe(10);
    expect(q.bytes).toBe(one * 10);
    expect(q.dropped).toBe(15);
    expect(times(drain(q, 100))).toEqual(Array.from({ length: 10 }, (_, i) => 115 + i));
    // One record larger than the whole bound evicts everything else, and stays.
    for (let i = 0; i < 5; i++) q.push(rec(i));
    q.push(rec(5, { url: `http://h/${'x'.repeat(one * 20)}` }));
    expect(q.size).toBe(1);
    expect(q.dropped).toBe(20);
    expect(drain(q, 10)[0].url).toHaveLength(one * 20 + 9);
  });

  it('compacts without losing order across many cycles', () => {
    const q = new RecordQueue(100_000);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 1000; i++) q.push(rec(next++));
      for (const r of drain(q, 900)) expect(r.time - T0).toBe(expected++);
    }
    expect(q.size).toBe(next - expected);
  });

  it('stays bounded in memory when nobody drains it', () => {
    const q = new RecordQueue(100);
    for (let i = 0; i < 10_000; i++) q.push(rec(i));
    expect(q.size).toBe(100);
    expect(q.dropped).toBe(9900);
    // 100 records of ~70 bytes: one 64 KiB chunk, or two across a boundary.
    expect((q as unknown as { chunks: unknown[] }).chunks.length).toBeLessThanOrEqual(2);
    expect(times(drain(q, 1000))).toEqual(Array.from({ length: 100 }, (_, i) => 9900 + i));
  });

  it('takes batches framed as the master expects, bounded by records and bytes, in order', () => {
    const q = new RecordQueue();
    // Short records first (batches end at 400 records), then long ones (batches end at the byte bound).
    const rs = Array.from({ length: 3000 }, (_, i) =>
      rec(i, { url: `http://h/${i}/${'p'.repeat(i < 1500 ? i % 10 : 600 + (i % 300))}` }),
    );
    for (const r of rs) q.push(r);
    // What a greedy cut must give: as many records as fit in 60 000 bytes of framed JSON, at most 400.
    const sizes = rs.map(rowBytes);
    expect(q.bytes).toBe(sizes.reduce((a, b) => a + b, 0));
    const expected: number[] = [];
    for (let i = 0; i < rs.length; ) {
      let n = 0;
      let bytes = FRAME_BYTES - 1;
      while (i + n < rs.length && n < 400 && bytes + sizes[i + n] <= 100_000) bytes += sizes[i + n++];
      expected.push(n);
      i += n;
    }
    const got: number[] = [];
    const order: number[] = [];
    for (let taken = q.take(400, 100_000, FIELDS); taken; taken = q.take(400, 100_000, FIELDS)) {
      expect(taken.json.length).toBeLessThanOrEqual(100_000);
      const batch = validateBatch(JSON.parse(taken.json.toString('utf8')), 's', 10_000);
      expect(batch.records).toHaveLength(taken.records);
      got.push(taken.records);
      order.push(...times(batch.records));
    }
    expect(got).toEqual(expected);
    expect(got.some((n) => n < 400) && got.some((n) => n === 400)).toBe(true);
    expect(order).toEqual(rs.map((_, i) => i));
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('takes a lone record longer than the byte bound on its own', () => {
    const q = new RecordQueue();
    q.push(rec(0, { url: `http://h/${'y'.repeat(5000)}` }));
    q.push(rec(1));
    const first = q.take(10, 1000, FIELDS)!;
    expect(first.records).toBe(1);
    expect(first.json.length).toBeGreaterThan(5000);
    expect(validateBatch(JSON.parse(first.json.toString('utf8')), 's', 10).records[0].url).toHaveLength(5009);
    expect(q.take(10, 1000, FIELDS)!.records).toBe(1);
    expect(q.take(10, 1000, FIELDS)).toBeUndefined();
  });

  it('rejects a nonsensical capacity or byte bound', () => {
    expect(() => new RecordQueue(0)).toThrow(/capacity must be a positive integer/);
    expect(() => new RecordQueue(10, 0)).toThrow(/maxBytes must be a positive integer/);
  });
});

describe('record encoding', () => {
  const awkward = [
    'say "hi"',
    'back\\slash',
    'tab\there',
    'nl\nand\rcr',
    'nul\u0000bell\u0007del\u007f',
    'ünïcødé',
    '日本語',
    'emoji 😀',
    'lone high \ud800 end',
    'lone low \udc00 end',
    'reversed \udc00\ud800',
    '\u2028line\u2029sep',
    '',
  ];

  it.each(awkward)(
    "round-trips %j through the master's batch validation in URLs, users, hosts, rules and categories",
    (s) => {
      const q = new RecordQueue();
      const r = rec(1, {
        url: `http://h/${s}`,
        user: `u${s}`,
        host: `h${s}`,
        client: `c${s}`,
        rule: `r${s}`,
        category: `k${s}`,
        policyHash: `p${s}`,
      });
      q.push(r);
      const taken = q.take(10, 1_000_000, FIELDS)!;
      const text = taken.json.toString('utf8');
      // Valid UTF-8: decoding and re-encoding gives back the same bytes (no replacement characters).
      expect(Buffer.from(text, 'utf8').equals(taken.json)).toBe(true);
      const [got] = validateBatch(JSON.parse(text), 's', 10).records;
      // Lone surrogates (no UTF-8 form; the master refuses them) arrive as U+FFFD, everything else as it went in.
      const wellFormed = Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === 'string' ? v.replace(LONE_SURROGATE, '\ufffd') : v]),
      );
      expect(got).toEqual({ ...wellFormed, host: (wellFormed.host as string).toLowerCase() });
    },
  );

  it("writes each value as JSON.stringify would, in the order the batch's columns name", () => {
    const q = new RecordQueue();
    const rs = awkward
      .filter((s) => !new RegExp(LONE_SURROGATE.source).test(s))
      .map((s, i) =>
        rec(i, {
          url: `http://h/${s}`,
          user: s || undefined,
          status: 200 + i,
          bytesUp: i * 1000,
          bytesDown: 2 ** 40 + i,
          durationMs: 10 ** i,
        }),
      );
    for (const r of rs) q.push(r);
    const batch = parse(q.take(100, 1_000_000, FIELDS)!.json);
    const expected = rs.map((r) =>
      ROW_COLUMNS.map((c) => (c === 'policyHash' ? null : JSON.parse(JSON.stringify(r[c] ?? null)))),
    );
    expect(batch.rows).toEqual(expected);
  });

  it('keys policy hashes per batch: a row carries the key, the batch the hashes its rows use', () => {
    const q = new RecordQueue();
    const [a, b] = ['sha256:aaaa', 'sha256:bbbb'];
    for (const h of [a, a, b, undefined, b, a]) q.push(rec(1, { policyHash: h }));
    const first = parse(q.take(3, 1_000_000, FIELDS)!.json);
    const key = (row: unknown[]) => row[ROW_COLUMNS.indexOf('policyHash')] as number | null;
    expect(first.rows.map((r) => first.policyHashes[String(key(r))])).toEqual([a, a, b]);
    const second = q.take(10, 1_000_000, FIELDS)!;
    expect(validateBatch(JSON.parse(second.json.toString('utf8')), 's', 10).records.map((r) => r.policyHash)).toEqual([
      undefined,
      b,
      a,
    ]);
    // Once their records are gone, hashes are no longer listed: a batch lists only hashes still queued.
    q.push(rec(2, { policyHash: 'sha256:cccc' }));
    q.push(rec(3, { policyHash: 'sha256:cccc' }));
    expect(Object.values(parse(q.take(10, 1_000_000, FIELDS)!.json).policyHashes)).toEqual(['sha256:cccc']);
    // Records of two policies interleaved (a policy swap with requests in flight) share two keys.
    for (let i = 0; i < 1000; i++) q.push(rec(i, { policyHash: i % 2 ? a : b }));
    const mixed = q.take(1000, 1_000_000, FIELDS)!;
    expect(Object.values(parse(mixed.json).policyHashes).sort()).toEqual([a, b]);
    expect(validateBatch(JSON.parse(mixed.json.toString('utf8')), 's', 1000).records.map((r) => r.policyHash)).toEqual(
      Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b)),
    );
  });

  it('writes a count that is not a non-negative integer as 0 rather than an unparseable batch', () => {
    const q = new RecordQueue();
    q.push(rec(1, { bytesUp: Number.NaN, bytesDown: -1, durationMs: 1.5 }));
    expect(drain(q, 1)[0]).toMatchObject({ bytesUp: 0, bytesDown: 0, durationMs: 0 });
  });
});
