/**
 * The behaviour every ReportStore must show, as a jest suite that takes a store factory:
 * run against SQLite beside the code and against a real PostgreSQL in test/reports.
 */
import type { AccessRecord } from './access-record.js';
import type { ReportFilter } from './query-types.js';
import type { ReportStore } from './store.js';

export const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const rec = (over: Partial<AccessRecord> & Pick<AccessRecord, 'time' | 'slave' | 'host'>): AccessRecord => ({
  client: '10.0.0.1',
  method: 'GET',
  url: `http://${over.host}/`,
  status: 200,
  bytesUp: 10,
  bytesDown: 100,
  durationMs: 5,
  action: 'allow',
  ...over,
});

/** Nine records on two slaves with aggregates worked out by hand in the tests below. */
export function fixtureBatches(): { id: string; slave: string; records: AccessRecord[] }[] {
  return [
    {
      id: 's1-1',
      slave: 's1',
      records: [
        rec({ time: T0, slave: 's1', host: 'example.com', user: 'alice', policyHash: 'h1' }),
        rec({ time: T0 + MIN, slave: 's1', host: 'example.com', user: 'alice', url: 'http://example.com/a' }),
        rec({ time: T0 + HOUR + MIN, slave: 's1', host: 'example.com', user: 'alice', bytesDown: 1000 }),
        rec({
          time: T0 + 2 * MIN,
          slave: 's1',
          host: 'example.com',
          user: 'bob',
          action: 'deny',
          status: 403,
          rule: 'block-x',
          category: 'social',
          bytesDown: 0,
        }),
      ],
    },
    {
      id: 's2-1',
      slave: 's2',
      records: [
        rec({
          time: T0 + 3 * MIN,
          slave: 's2',
          host: 'social.net',
          user: 'bob',
          action: 'deny',
          status: 403,
          rule: 'block-social',
          category: 'social',
          bytesDown: 0,
        }),
        rec({
          time: T0 + 4 * MIN,
          slave: 's2',
          host: 'social.net',
          user: 'bob',
          action: 'deny',
          status: 403,
          rule: 'block-social',
          category: 'social',
          bytesDown: 0,
          method: 'POST',
        }),
        rec({ time: T0 + 5 * MIN, slave: 's2', host: 'other.org', url: 'http://other.org/a?q=1', client: '10.0.0.2' }),
        rec({
          time: T0 + DAY,
          slave: 's2',
          host: 'other.org',
          user: 'carol',
          action: 'redirect',
          status: 302,
          rule: 'to-intranet',
          category: 'news',
        }),
        rec({
          time: T0 + 6 * MIN,
          slave: 's2',
          host: 'tunnel.example',
          method: 'CONNECT',
          url: 'tunnel.example:443',
          user: 'carol',
        }),
      ],
    },
  ];
}

/** Text a store must keep as sent: array-literal, CSV and SQL metacharacters, a NULL look-alike, non-ASCII. */
export const NASTY_TEXT = [
  'NULL',
  'a"b',
  'back\\slash\\',
  '{braces},comma',
  ' two  spaces ',
  "it's",
  'naïve ☃ 日本',
  'tab\tnewline\n',
];

const ALL: ReportFilter = { from: T0 - DAY, to: T0 + 2 * DAY };

/** Every fixture URL holds a ':', and a URL filter makes the store read raw records only. */
const RAW = { url: ':' };

/** Every aggregate of a window, read through the rollup where the store may, and from raw records. */
async function allAggregates(store: ReportStore, f: ReportFilter) {
  return {
    summary: { ...(await store.summary(f)), from: 0, to: 0 },
    topSites: await store.topSites({ filter: f, limit: 100 }),
    topUsers: await store.topUsers({ filter: f, limit: 100 }),
    blocked: await store.blocked({ filter: f, limit: 100 }),
    perSlave: await store.perSlave(f),
    hours: await store.timeline(f, 'hour'),
    days: await store.timeline(f, 'day'),
    categories: await store.categories(f),
  };
}

export function describeReportStore(name: string, open: () => Promise<ReportStore>): void {
  describe(`ReportStore contract: ${name}`, () => {
    let store: ReportStore;

    beforeEach(async () => {
      store = await open();
      for (const b of fixtureBatches()) await store.ingestBatch(b.id, b.slave, b.records);
    });
    afterEach(async () => {
      await store.close();
    });

    it('ingests a batch exactly once, whatever the second copy holds', async () => {
      expect(await store.count()).toBe(9);
      const [b] = fixtureBatches();
      expect(await store.ingestBatch(b.id, b.slave, b.records)).toEqual({ inserted: 0, duplicate: true });
      expect(await store.ingestBatch(b.id, b.slave, b.records.slice(0, 1))).toEqual({ inserted: 0, duplicate: true });
      expect(await store.count()).toBe(9);
      expect(await store.ingestBatch('s1-2', 's1', b.records.slice(0, 2))).toEqual({ inserted: 2, duplicate: false });
      expect(await store.count()).toBe(11);
    });

    it('lets only one of two concurrent copies of a batch in', async () => {
      const records = fixtureBatches()[0].records;
      const results = await Promise.all([
        store.ingestBatch('race', 's1', records),
        store.ingestBatch('race', 's1', records),
      ]);
      expect(results.map((r) => r.duplicate).sort()).toEqual([false, true]);
      expect(await store.count()).toBe(9 + records.length);
    });

    it('sums concurrent batches that share rollup rows, whatever order they touch them in', async () => {
      const base = fixtureBatches()[1].records;
      const batches = Array.from({ length: 8 }, (_, i) => (i % 2 ? [...base].reverse() : base));
      await Promise.all(batches.map((records, i) => store.ingestBatch(`c-${i}`, 's2', records)));
      expect((await store.summary(ALL)).requests).toBe(9 + 8 * base.length);
      expect(await allAggregates(store, ALL)).toEqual(await allAggregates(store, { ...ALL, ...RAW }));
    });

    it('stores awkward text exactly as sent', async () => {
      const records = NASTY_TEXT.map((t, i) =>
        rec({
          time: T0 + 3 * DAY + i,
          slave: 's1',
          host: 'odd.example',
          user: t,
          url: `http://odd.example/${t}`,
          rule: t,
          category: t,
          policyHash: t,
        }),
      );
      expect(await store.ingestBatch('nasty', 's1', records)).toEqual({ inserted: records.length, duplicate: false });
      const window = { from: T0 + 3 * DAY, to: T0 + 4 * DAY };
      const found = (await store.search({ filter: window, limit: 100 })).records.map(({ id: _id, ...r }) => r);
      expect(found.reverse()).toEqual(records);
      expect((await store.topUsers({ filter: window, limit: 100 })).map((r) => r.user).sort()).toEqual(
        [...NASTY_TEXT].sort(),
      );
    });

    it("reads back each record's policy hash, stored once per policy", async () => {
      const hashes = ['sha256:' + 'a'.repeat(64), 'sha256:' + 'b'.repeat(64)];
      const records = Array.from({ length: 150 }, (_, i) =>
        rec({
          time: T0 + 5 * DAY + i,
          slave: 's1',
          host: 'policies.example',
          policyHash: i % 3 === 2 ? undefined : hashes[i % 3],
        }),
      );
      await store.ingestBatch('policies-1', 's1', records.slice(0, 70));
      await store.ingestBatch('policies-2', 's1', records.slice(70));
      const window = { from: T0 + 5 * DAY, to: T0 + 6 * DAY };
      const found = (await store.search({ filter: window, limit: 1000 })).records.reverse();
      expect(found.map((r) => r.policyHash)).toEqual(records.map((r) => r.policyHash));
    });

    it('records an empty batch id so its resend is a duplicate', async () => {
      expect(await store.ingestBatch('empty', 's1', [])).toEqual({ inserted: 0, duplicate: false });
      expect(await store.ingestBatch('empty', 's1', [])).toEqual({ inserted: 0, duplicate: true });
    });

    it('summarises a window (from inclusive, to exclusive)', async () => {
      expect(await store.summary(ALL)).toEqual({
        ...ALL,
        requests: 9,
        blocked: 3,
        bytesUp: 90,
        bytesDown: 100 * 6 + 900,
        distinctUsers: 3,
        distinctHosts: 4,
        distinctSlaves: 2,
        firstTime: T0,
        lastTime: T0 + DAY,
      });
      const narrow = await store.summary({ from: T0 + MIN, to: T0 + 3 * MIN });
      expect(narrow).toMatchObject({ requests: 2, blocked: 1, firstTime: T0 + MIN, lastTime: T0 + 2 * MIN });
      const empty = await store.summary({ from: 0, to: 1 });
      expect(empty).toMatchObject({ requests: 0, blocked: 0, bytesUp: 0, firstTime: null, lastTime: null });
    });

    it('ranks top sites by requests and honours limit and filters', async () => {
      expect(await store.topSites({ filter: ALL, limit: 10 })).toEqual([
        { host: 'example.com', requests: 4, blocked: 1, bytesDown: 1200, bytesUp: 40, distinctUsers: 2 },
        { host: 'other.org', requests: 2, blocked: 0, bytesDown: 200, bytesUp: 20, distinctUsers: 1 },
        { host: 'social.net', requests: 2, blocked: 2, bytesDown: 0, bytesUp: 20, distinctUsers: 1 },
        { host: 'tunnel.example', requests: 1, blocked: 0, bytesDown: 100, bytesUp: 10, distinctUsers: 1 },
      ]);
      expect((await store.topSites({ filter: ALL, limit: 1 })).map((r) => r.host)).toEqual(['example.com']);
      expect(
        (await store.topSites({ filter: { ...ALL, user: 'bob' }, limit: 10 })).map((r) => [r.host, r.requests]),
      ).toEqual([
        ['social.net', 2],
        ['example.com', 1],
      ]);
    });

    it('ranks top users, unauthenticated traffic as null', async () => {
      const rows = await store.topUsers({ filter: ALL, limit: 10 });
      expect(rows.map((r) => [r.user, r.requests, r.blocked, r.distinctHosts])).toEqual([
        ['alice', 3, 0, 1],
        ['bob', 3, 3, 2],
        ['carol', 2, 0, 2],
        [null, 1, 0, 1],
      ]);
      const onHost = await store.topUsers({ filter: { ...ALL, host: 'example.com' }, limit: 10 });
      expect(onHost.map((r) => r.user)).toEqual(['alice', 'bob']);
    });

    it('groups blocked requests by rule and host', async () => {
      expect(await store.blocked({ filter: ALL, limit: 10 })).toEqual([
        {
          rule: 'block-social',
          host: 'social.net',
          category: 'social',
          requests: 2,
          distinctUsers: 1,
          lastTime: T0 + 4 * MIN,
        },
        {
          rule: 'block-x',
          host: 'example.com',
          category: 'social',
          requests: 1,
          distinctUsers: 1,
          lastTime: T0 + 2 * MIN,
        },
      ]);
      expect(await store.blocked({ filter: { ...ALL, slave: 's1' }, limit: 10 })).toHaveLength(1);
    });

    it('splits traffic per slave', async () => {
      expect(await store.perSlave(ALL)).toEqual([
        {
          slave: 's1',
          requests: 4,
          blocked: 1,
          bytesDown: 1200,
          bytesUp: 40,
          firstTime: T0,
          lastTime: T0 + HOUR + MIN,
        },
        {
          slave: 's2',
          requests: 5,
          blocked: 2,
          bytesDown: 300,
          bytesUp: 50,
          firstTime: T0 + 3 * MIN,
          lastTime: T0 + DAY,
        },
      ]);
    });

    it('buckets a timeline by minute, hour and day (UTC)', async () => {
      const hour = await store.timeline(ALL, 'hour');
      expect(hour.map((r) => [r.time - T0, r.requests, r.blocked])).toEqual([
        [0, 7, 3],
        [HOUR, 1, 0],
        [DAY, 1, 0],
      ]);
      const minute = await store.timeline({ from: T0, to: T0 + 10 * MIN }, 'minute');
      expect(minute.map((r) => (r.time - T0) / MIN)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const day = await store.timeline(ALL, 'day');
      expect(day.map((r) => [r.time, r.requests])).toEqual([
        [Date.UTC(2026, 0, 1), 8],
        [Date.UTC(2026, 0, 2), 1],
      ]);
    });

    it('splits traffic by category', async () => {
      expect((await store.categories(ALL)).map((r) => [r.category, r.requests, r.blocked])).toEqual([
        [null, 5, 0],
        ['social', 3, 3],
        ['news', 1, 0],
      ]);
      expect((await store.categories({ ...ALL, action: 'deny' })).map((r) => r.category)).toEqual(['social']);
    });

    it('searches newest first with filters and returns records as they were sent', async () => {
      const r = await store.search({ filter: { ...ALL, user: 'alice' }, limit: 10 });
      expect(r.nextCursor).toBeNull();
      expect(r.records.map((x) => x.time - T0)).toEqual([HOUR + MIN, MIN, 0]);
      const first = r.records[2];
      const { id, ...withoutId } = first;
      expect(typeof id).toBe('number');
      expect(withoutId).toEqual(fixtureBatches()[0].records[0]);
      const byUrl = await store.search({ filter: { ...ALL, url: '/a' }, limit: 10 });
      expect(byUrl.records.map((x) => x.url).sort()).toEqual(['http://example.com/a', 'http://other.org/a?q=1']);
      const denied = await store.search({
        filter: { ...ALL, action: 'deny', category: 'social', slave: 's2' },
        limit: 10,
      });
      expect(denied.records.map((x) => x.method)).toEqual(['POST', 'GET']);
      const none = await store.search({ filter: { ...ALL, host: 'nowhere.example' }, limit: 10 });
      expect(none).toEqual({ records: [], nextCursor: null });
    });

    it('pages through search results with a cursor, each record once', async () => {
      // Same-millisecond records must not be skipped or repeated across a page boundary.
      const same = Array.from({ length: 5 }, (_, i) =>
        rec({ time: T0 + 7 * MIN, slave: 's1', host: `same${i}.example` }),
      );
      await store.ingestBatch('same-ms', 's1', same);
      const seen: number[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const r = await store.search({ filter: ALL, limit: 3, cursor });
        seen.push(...r.records.map((x) => x.id));
        if (!r.nextCursor) break;
        cursor = r.nextCursor;
      }
      expect(seen).toHaveLength(14);
      expect(new Set(seen).size).toBe(14);
      await expect(store.search({ filter: ALL, limit: 3, cursor: 'bogus' })).rejects.toThrow(/cursor/);
    });

    it('answers the same from the hourly rollup as from raw records, ragged windows included', async () => {
      const windows: ReportFilter[] = [
        ALL,
        { from: T0 + 30_000, to: T0 + DAY + 30 * MIN },
        { from: T0 - 1, to: T0 + HOUR + MIN + 1 },
        { from: T0 + HOUR, to: T0 + 2 * HOUR },
        { ...ALL, user: 'bob' },
        { ...ALL, slave: 's2', category: 'social' },
      ];
      // A second batch into hours the first ones already filled: rollup rows are summed, not replaced.
      await store.ingestBatch(
        's1-more',
        's1',
        fixtureBatches()[0].records.map((r) => ({ ...r, time: r.time + 7 })),
      );
      for (const w of windows) {
        expect({ w, ...(await allAggregates(store, w)) }).toEqual({
          w,
          ...(await allAggregates(store, { ...w, ...RAW })),
        });
      }
      expect((await store.summary(ALL)).requests).toBe(13);
    });

    it('purges records older than a cutoff in bounded chunks', async () => {
      const cutoff = T0 + 5 * MIN;
      expect(await store.purgeOlderThan(cutoff, 2)).toBe(2);
      expect(await store.purgeOlderThan(cutoff, 2)).toBe(2);
      expect(await store.purgeOlderThan(cutoff, 2)).toBe(1);
      expect(await store.purgeOlderThan(cutoff, 2)).toBe(0);
      expect(await store.count()).toBe(4);
      expect((await store.summary(ALL)).firstTime).toBe(cutoff);
      // The hour the cutoff fell in was rebuilt from what is left of it.
      expect(await allAggregates(store, ALL)).toEqual(await allAggregates(store, { ...ALL, ...RAW }));
    });

    it('forgets batch ids received before the cutoff', async () => {
      const [b] = fixtureBatches();
      await store.purgeOlderThan(Date.now() + 1000);
      expect(await store.count()).toBe(0);
      expect(await store.ingestBatch(b.id, b.slave, b.records)).toEqual({ inserted: 4, duplicate: false });
    });
  });
}
