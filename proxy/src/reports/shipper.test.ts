/**
 * The shipper against a real master endpoint on 127.0.0.1 (express + the reports router +
 * SQLite) that fails, goes away, comes back, loses acks and refuses batches. Every test
 * counts records sent against records stored: each exactly once, in order.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { AccessRecord } from './access-record.js';
import { validateBatch } from './batch-validation.js';
import { RecordQueue } from './record-queue.js';
import { rowBytes } from './record-queue.testkit.js';
import { createReportsRouter } from './reports-router.js';
import { startReportShipper, type ReportShipper, type ReportShipperOptions } from './shipper.js';
import { openReportStore } from './open-report-store.js';
import type { ReportStore } from './store.js';

const T0 = Date.UTC(2026, 0, 1);
const TOKEN = 'sync-token-1';
const silent = pino({ level: 'silent' });

interface TestMaster {
  url: string;
  port: number;
  /** Answer 503 to every batch while true. */
  failing: boolean;
  /** Store the next N batches but cut the connection instead of acknowledging. */
  dropAcks: number;
  /** Refuse the next N batches with 400. */
  rejectNext: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stored record times in storage order. */
  storedTimes(): number[];
  close(): Promise<void>;
}

async function startTestMaster(dir: string): Promise<TestMaster> {
  const dbPath = join(dir, 'master.db');
  const store: ReportStore = await openReportStore({ sqlitePath: dbPath });
  const app = express();
  const state = { failing: false, dropAcks: 0, rejectNext: 0 };
  app.use((req, res, next) => {
    if (req.get('authorization') !== `Bearer ${TOKEN}`) return void res.status(401).json({ error: 'bad token' });
    if (!req.get('x-safesquid-slave')) return void res.status(400).json({ error: 'no slave header' });
    if (state.failing) return void res.status(503).json({ error: 'store unavailable' });
    if (state.rejectNext > 0) {
      state.rejectNext--;
      return void res.status(400).json({ error: 'records[0].status: test refusal' });
    }
    if (state.dropAcks > 0) {
      state.dropAcks--;
      const json = res.json.bind(res);
      res.json = (body: unknown) => {
        if (res.statusCode === 200) {
          req.socket.destroy();
          return res;
        }
        return json(body);
      };
    }
    next();
  });
  app.use('/api/v1/reports', createReportsRouter({ store, logger: silent }));
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = app.listen(port, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve()));
      server = s;
    }).then(() => {
      port = (server!.address() as { port: number }).port;
    });
  await listen();
  const stop = async () => {
    if (!server) return;
    const s = server;
    server = undefined;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  };
  const reader = new Database(dbPath, { readonly: true });
  return Object.assign(state, {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    stop,
    restart: listen,
    storedTimes: () =>
      (reader.prepare('SELECT ts FROM records ORDER BY id').all() as { ts: number }[]).map((r) => r.ts),
    async close() {
      await stop();
      reader.close();
      await store.close();
    },
  });
}

const rec = (i: number): AccessRecord => ({
  time: T0 + i,
  slave: 'slave-a',
  client: '127.0.0.1',
  method: 'GET',
  host: 'up.example',
  url: `http://up.example/${i}`,
  status: 200,
  bytesUp: 10,
  bytesDown: 100,
  durationMs: 1,
  action: 'allow',
});

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v ? Number(v.value) : NaN;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => T0 + from + i);

let dir: string;
let master: TestMaster;
const shippers: ReportShipper[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reports-shipper-'));
  master = await startTestMaster(dir);
});
afterEach(async () => {
  await Promise.all(shippers.splice(0).map((s) => s.stop()));
  await master.close();
  rmSync(dir, { recursive: true, force: true });
});

function ship(over: Partial<ReportShipperOptions> & { queue: RecordQueue }) {
  const registry = new Registry();
  const s = startReportShipper({
    masterUrl: master.url,
    token: TOKEN,
    spoolDir: join(dir, 'spool'),
    slaveName: 'slave-a',
    logger: silent,
    registry,
    batchSize: 100,
    flushIntervalMs: 50,
    retryBaseMs: 20,
    retryMaxMs: 100,
    stopDeadlineMs: 1000,
    ...over,
  });
  shippers.push(s);
  return { shipper: s, registry };
}

it('delivers every record once, in order, in batches bounded by size and time', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue });
  for (let i = 0; i < 1234; i++) queue.push(rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual(range(0, 1234));
  expect(await metric(registry, 'safesquid_report_batches_sent_total')).toBe(13);
  expect(await metric(registry, 'safesquid_report_records_sent_total')).toBe(1234);
  // Time bound: a lone record goes out without flush() once flushIntervalMs has passed.
  queue.push(rec(5000));
  await waitFor('the time-bounded batch', () => master.storedTimes().length === 1235, 5000);
  // Stored is not yet acknowledged: the spool empties once the ack is back.
  await waitFor('an empty spool', async () => (await metric(registry, 'safesquid_report_spool_batches')) === 0, 5000);
});

it('cuts a batch short of batchSize rather than let its JSON pass maxBatchJsonBytes, keeping every record once and in order', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue, batchSize: 1000, maxBatchJsonBytes: 20_000 });
  master.failing = true;
  for (let i = 0; i < 500; i++) queue.push({ ...rec(i), url: `http://up.example/${i}/${'p'.repeat(150)}` });
  await shipper.flush();
  const spoolDir = join(dir, 'spool');
  const bodies = readdirSync(spoolDir)
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .map((f) => gunzipSync(readFileSync(join(spoolDir, f))));
  // 500 rows of ~250 bytes (~125 KB): as many as fit in 20 000 bytes per batch, the last one what is left.
  for (const b of bodies) expect(b.length).toBeLessThanOrEqual(20_000);
  for (const b of bodies.slice(0, -1)) expect(b.length).toBeGreaterThan(20_000 - 255);
  const batches = bodies.map((b) =>
    validateBatch(JSON.parse(b.toString('utf8')), 'slave-a', 1000).records.map((r) => r.time),
  );
  expect(batches.length).toBeGreaterThanOrEqual(6);
  expect(batches.flat()).toEqual(range(0, 500));
  master.failing = false;
  await waitFor('delivery', () => master.storedTimes().length === 500);
  expect(master.storedTimes()).toEqual(range(0, 500));
  await waitFor('an empty spool', async () => (await metric(registry, 'safesquid_report_spool_batches')) === 0, 5000);
  expect(() => ship({ queue, maxBatchJsonBytes: 0 })).toThrow(/maxBatchJsonBytes must be a positive integer/);
});

it('spools while the master fails, then delivers everything once and in order', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue });
  master.failing = true;
  for (let i = 0; i < 550; i++) queue.push(rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual([]);
  expect(await metric(registry, 'safesquid_report_spool_batches')).toBe(6);
  expect(await metric(registry, 'safesquid_report_spool_bytes')).toBeGreaterThan(0);
  expect(await metric(registry, 'safesquid_report_send_failures_total')).toBeGreaterThanOrEqual(1);
  for (let i = 550; i < 600; i++) queue.push(rec(i));
  master.failing = false;
  await waitFor('recovery', () => master.storedTimes().length === 600);
  expect(master.storedTimes()).toEqual(range(0, 600));
  await waitFor('an empty spool', async () => (await metric(registry, 'safesquid_report_spool_batches')) === 0, 5000);
});

it('survives the master going away and coming back under steady traffic', async () => {
  const queue = new RecordQueue();
  ship({ queue });
  let next = 0;
  const produce = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (let i = 0; i < 20; i++) queue.push(rec(next++));
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await produce(200);
  await master.stop();
  await produce(300);
  expect(readdirSync(join(dir, 'spool')).some((f) => f.endsWith('.json.gz'))).toBe(true);
  await master.restart();
  await produce(200);
  await waitFor('every record', () => master.storedTimes().length === next);
  expect(master.storedTimes()).toEqual(range(0, next));
});

it('resends a batch whose ack was lost, and the master stores it only once', async () => {
  const queue = new RecordQueue();
  const { shipper } = ship({ queue });
  master.dropAcks = 2;
  for (let i = 0; i < 300; i++) queue.push(rec(i));
  await shipper.flush();
  await waitFor('all after lost acks', () => master.storedTimes().length >= 300);
  await shipper.flush();
  expect(master.storedTimes()).toEqual(range(0, 300));
});

it('drops the oldest batches at the spool bound and counts the dropped records', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue, batchSize: 10, flushIntervalMs: 60_000, spoolLimitBytes: 1 });
  await master.stop();
  for (let i = 0; i < 50; i++) queue.push(rec(i));
  await shipper.flush();
  expect(await metric(registry, 'safesquid_report_records_dropped_total', { reason: 'spool_full' })).toBe(40);
  expect(await metric(registry, 'safesquid_report_spool_batches')).toBe(1);
  await master.restart();
  await shipper.flush();
  expect(master.storedTimes()).toEqual(range(40, 50));
});

it('counts records the in-memory queue dropped while full', async () => {
  const queue = new RecordQueue(10);
  const { shipper, registry } = ship({ queue, flushIntervalMs: 60_000 });
  for (let i = 0; i < 25; i++) queue.push(rec(i));
  expect(await metric(registry, 'safesquid_report_queue_bytes')).toBe(
    range(15, 25).reduce((n, t) => n + rowBytes(rec(t - T0)), 0),
  );
  await shipper.flush();
  expect(await metric(registry, 'safesquid_report_queue_bytes')).toBe(0);
  expect(await metric(registry, 'safesquid_report_records_dropped_total', { reason: 'queue_full' })).toBe(15);
  expect(master.storedTimes()).toEqual(range(15, 25));
});

it('picks up the spool of a slave that stopped with the master away', async () => {
  const queue = new RecordQueue();
  const first = ship({ queue, stopDeadlineMs: 200 });
  await master.stop();
  for (let i = 0; i < 250; i++) queue.push(rec(i));
  await first.shipper.stop();
  const spoolDir = join(dir, 'spool');
  expect(readdirSync(spoolDir).filter((f) => f.endsWith('.json.gz'))).toHaveLength(3);
  // A batch half-written when the slave crashed: never sent, must not be taken for one.
  writeFileSync(join(spoolDir, '0000000000000099-5-slave-a-1-abc.json.gz.tmp'), 'partial');
  await master.restart();
  const queue2 = new RecordQueue();
  const second = ship({ queue: queue2 });
  for (let i = 250; i < 260; i++) queue2.push(rec(i));
  await second.shipper.flush();
  expect(master.storedTimes()).toEqual(range(0, 260));
  expect(readdirSync(spoolDir)).toEqual(['rejected']);
});

it('sets a refused batch aside in rejected/ and goes on with the next', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue, flushIntervalMs: 60_000 });
  master.rejectNext = 1;
  for (let i = 0; i < 300; i++) queue.push(rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual(range(100, 300));
  expect(await metric(registry, 'safesquid_report_batches_rejected_total')).toBe(1);
  const rejected = readdirSync(join(dir, 'spool', 'rejected'));
  expect(rejected).toHaveLength(1);
  expect(rejected[0]).toMatch(/^0000000000000001-100-slave-a-\d+-[0-9a-f]{12}\.json\.gz$/);
});

it('drops only the records the master refuses, one by one, and delivers the rest of their batch', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue, flushIntervalMs: 60_000 });
  const bad = new Set([3, 57, 58, 99, 150]);
  for (let i = 0; i < 200; i++) queue.push(bad.has(i) ? { ...rec(i), client: '' } : rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual(range(0, 200).filter((t) => !bad.has(t - T0)));
  expect(await metric(registry, 'safesquid_report_records_dropped_total', { reason: 'invalid' })).toBe(5);
  expect(await metric(registry, 'safesquid_report_batches_rejected_total')).toBe(0);
  expect(await metric(registry, 'safesquid_report_records_sent_total')).toBe(195);
  expect(readdirSync(join(dir, 'spool')).sort()).toEqual(['rejected']);
  expect(readdirSync(join(dir, 'spool', 'rejected'))).toEqual([]);
});

it('sets the whole batch aside once it has dropped 100 of its records', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue, batchSize: 150, flushIntervalMs: 60_000 });
  for (let i = 0; i < 150; i++) queue.push(i < 120 ? { ...rec(i), client: '' } : rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual([]);
  expect(await metric(registry, 'safesquid_report_records_dropped_total', { reason: 'invalid' })).toBe(100);
  expect(await metric(registry, 'safesquid_report_batches_rejected_total')).toBe(1);
  expect(readdirSync(join(dir, 'spool', 'rejected'))).toEqual([expect.stringMatching(/^0000000000000001-50-slave-a-/)]);
});

it('keeps retrying, not rejecting, when the token is refused', async () => {
  const queue = new RecordQueue();
  const { shipper, registry } = ship({ queue, token: 'wrong' });
  for (let i = 0; i < 100; i++) queue.push(rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual([]);
  expect(await metric(registry, 'safesquid_report_batches_rejected_total')).toBe(0);
  expect(await metric(registry, 'safesquid_report_spool_batches')).toBe(1);
  expect(existsSync(join(dir, 'spool', 'rejected'))).toBe(true);
  expect(readdirSync(join(dir, 'spool', 'rejected'))).toEqual([]);
});

it('delivers the spooled batch once the token it reads is rotated to the accepted one', async () => {
  const queue = new RecordQueue();
  let token = 'wrong';
  const { shipper } = ship({ queue, token: () => token });
  for (let i = 0; i < 100; i++) queue.push(rec(i));
  await shipper.flush();
  expect(master.storedTimes()).toEqual([]);
  token = TOKEN;
  await waitFor('delivery after the rotation', () => master.storedTimes().length === 100, 5000);
  expect(master.storedTimes()).toEqual(range(0, 100));
});

it('delivers what is queued when stopped with the master up', async () => {
  const queue = new RecordQueue();
  const { shipper } = ship({ queue, flushIntervalMs: 60_000 });
  for (let i = 0; i < 150; i++) queue.push(rec(i));
  await shipper.stop();
  expect(master.storedTimes()).toEqual(range(0, 150));
});

it('shares a registry with the proxy that already exports the queue depth', async () => {
  const queue = new RecordQueue();
  const registry = new Registry();
  const { Gauge } = await import('prom-client');
  new Gauge({ name: 'safesquid_report_queue_depth', help: 'from the proxy', registers: [registry] });
  const s = startReportShipper({
    queue,
    masterUrl: master.url,
    token: TOKEN,
    spoolDir: join(dir, 'spool'),
    slaveName: 'slave-a',
    logger: silent,
    registry,
  });
  shippers.push(s);
  queue.push(rec(1));
  await s.flush();
  expect(master.storedTimes()).toEqual([T0 + 1]);
  expect(await metric(registry, 'safesquid_report_records_sent_total')).toBe(1);
});
