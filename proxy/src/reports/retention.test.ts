import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { AccessRecord } from './access-record.js';
import { startRetention } from './retention.js';
import { openReportStore } from './open-report-store.js';
import type { ReportStore } from './store.js';

const DAY = 86_400_000;
let dir: string;
let store: ReportStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reports-retention-'));
  store = await openReportStore({ sqlitePath: join(dir, 'reports.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const rec = (time: number): AccessRecord => ({
  time,
  slave: 's',
  client: '127.0.0.1',
  method: 'GET',
  host: 'h.example',
  url: 'http://h.example/',
  status: 200,
  bytesUp: 0,
  bytesDown: 0,
  durationMs: 0,
  action: 'allow',
});

it('deletes every record older than the retention, in chunks, and keeps the rest', async () => {
  const now = Date.now();
  await store.ingestBatch(
    'old',
    's',
    Array.from({ length: 25 }, (_, i) => rec(now - 10 * DAY + i)),
  );
  await store.ingestBatch(
    'new',
    's',
    Array.from({ length: 5 }, (_, i) => rec(now - DAY + i)),
  );
  const retention = startRetention({
    store,
    retentionDays: 5,
    logger: pino({ level: 'silent' }),
    chunk: 10,
    pauseMs: 1,
  });
  try {
    expect(await retention.runOnce()).toBe(25);
    expect(await store.count()).toBe(5);
    expect(await retention.runOnce()).toBe(0);
  } finally {
    await retention.stop();
  }
});

it('refuses a retention that is not a positive number of days', () => {
  expect(() => startRetention({ store, retentionDays: 0, logger: pino({ level: 'silent' }) })).toThrow(/retentionDays/);
});
