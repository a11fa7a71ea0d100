import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { AccessRecord } from './access-record.js';
import { createReportsRouter } from './reports-router.js';
import { openReportStore } from './open-report-store.js';
import type { ReportStore } from './store.js';
import { fixtureBatches, T0 } from './store-contract.testkit.js';

let dir: string;
let store: ReportStore;
let server: Server;
let base: string;
let registry: Registry;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reports-router-'));
  store = await openReportStore({ sqlitePath: join(dir, 'reports.db') });
  registry = new Registry();
  const app = express();
  app.use(
    '/api/v1/reports',
    createReportsRouter({
      store,
      logger: pino({ level: 'silent' }),
      registry,
      maxBatchBytes: 64 * 1024,
      maxDecompressedBytes: 256 * 1024,
    }),
  );
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/reports`;
  for (const b of fixtureBatches()) await store.ingestBatch(b.id, b.slave, b.records);
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function post(
  body: unknown,
  opts: { gzip?: boolean; slave?: string; headers?: Record<string, string>; raw?: Buffer } = {},
) {
  const json = Buffer.from(JSON.stringify(body));
  const gz = opts.gzip ?? true;
  return fetch(`${base}/batches`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(gz ? { 'content-encoding': 'gzip' } : {}),
      ...(opts.slave ? { 'x-safesquid-slave': opts.slave } : {}),
      ...opts.headers,
    },
    body: opts.raw ?? (gz ? gzipSync(json) : json),
  });
}

const body = (r: Response): Promise<any> => r.json();

const record = (i: number, over: Partial<AccessRecord> = {}): AccessRecord => ({
  time: T0 + 10 * 86_400_000 + i,
  slave: 'r1',
  client: '127.0.0.1',
  method: 'GET',
  host: 'batch.example',
  url: `http://batch.example/${i}`,
  status: 200,
  bytesUp: 1,
  bytesDown: 2,
  durationMs: 3,
  action: 'allow',
  ...over,
});

const W = `from=${T0 - 86_400_000}&to=${T0 + 2 * 86_400_000}`;

describe('POST /batches', () => {
  it('stores a gzip batch once and acknowledges its resend as a duplicate', async () => {
    const batch = { batchId: 'r1-1-aaaa', slave: 'r1', records: [record(1), record(2), record(3)] };
    const before = await store.count();
    const first = await post(batch, { slave: 'r1' });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ batchId: 'r1-1-aaaa', inserted: 3, duplicate: false });
    const again = await post(batch, { slave: 'r1' });
    expect(await again.json()).toEqual({ batchId: 'r1-1-aaaa', inserted: 0, duplicate: true });
    expect(await store.count()).toBe(before + 3);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/safesquid_report_ingested_batches_total\{result="duplicate"\} 1/);
    expect(metrics).toMatch(/safesquid_report_ingested_records_total \d+/);
  });

  it('takes an identity-encoded batch too', async () => {
    const r = await post({ batchId: 'r1-plain', slave: 'r1', records: [record(4)] }, { gzip: false, slave: 'r1' });
    expect(r.status).toBe(200);
    expect((await body(r)).inserted).toBe(1);
  });

  it('refuses a bad record with its index and field, storing none of the batch', async () => {
    const before = await store.count();
    const r = await post({
      batchId: 'r1-bad',
      slave: 'r1',
      records: [record(5), record(6), { ...record(7), status: 'ok' }],
    });
    expect(r.status).toBe(400);
    expect(await body(r)).toEqual({
      code: 'SS_BATCH_INVALID',
      error: 'records[2].status: expected an integer, got "ok"',
      field: 'status',
      index: 2,
    });
    expect(await store.count()).toBe(before);
    const missing = await post({ batchId: 'r1-bad2', slave: 'r1', records: [{ ...record(8), host: undefined }] });
    expect((await body(missing)).error).toBe('records[0].host: expected a string, got undefined');
    const action = await post({ batchId: 'r1-bad3', slave: 'r1', records: [record(9, { action: 'block' as never })] });
    expect((await body(action)).error).toMatch(/records\[0\]\.action: expected allow\|deny\|redirect, got "block"/);
  });

  it('refuses a batch whose slave does not match the header or its records', async () => {
    const r = await post({ batchId: 'r1-x', slave: 'r1', records: [record(1)] }, { slave: 'r2' });
    expect(r.status).toBe(400);
    expect((await body(r)).field).toBe('slave');
    const r2 = await post({ batchId: 'r1-y', slave: 'r1', records: [record(1, { slave: 'r9' })] });
    expect((await body(r2)).error).toMatch(/records\[0\]\.slave: "r9" does not match the batch's slave "r1"/);
  });

  it('refuses a bad batch id, JSON or gzip with 400', async () => {
    const id = await post({ batchId: '../etc/passwd', slave: 'r1', records: [] });
    expect(id.status).toBe(400);
    expect((await body(id)).field).toBe('batchId');
    const json = await post(null, { raw: gzipSync('{"batchId": ') });
    expect(json.status).toBe(400);
    expect((await body(json)).error).toMatch(/not valid JSON/);
    const gz = await post(null, { raw: Buffer.from('not gzip at all') });
    expect(gz.status).toBe(400);
    expect((await body(gz)).error).toMatch(/not valid gzip/);
  });

  it('answers 415 for a wrong Content-Type or Content-Encoding', async () => {
    const ct = await post({}, { headers: { 'content-type': 'text/plain' } });
    expect(ct.status).toBe(415);
    expect((await body(ct)).error).toMatch(/Content-Type must be application\/json, got "text\/plain"/);
    const ce = await post({}, { headers: { 'content-encoding': 'br' } });
    expect(ce.status).toBe(415);
  });

  it('answers 413 for an oversized body and for a gzip bomb, storing nothing', async () => {
    const before = await store.count();
    const many = Array.from({ length: 2000 }, (_, i) =>
      record(i, { url: `http://batch.example/${'x'.repeat(50)}${i}` }),
    );
    const big = await post({ batchId: 'r1-big', slave: 'r1', records: many }, { gzip: false });
    expect(big.status).toBe(413);
    expect((await body(big)).error).toMatch(/over the limit of 65536 bytes/);
    // 10 MB of spaces compress to ~10 KB: under the wire limit, far over the inflated limit.
    const bomb = gzipSync(
      Buffer.concat([
        Buffer.from('{"batchId":"r1-bomb","slave":"r1","records":[]'),
        Buffer.alloc(10_000_000, ' '),
        Buffer.from('}'),
      ]),
    );
    expect(bomb.length).toBeLessThan(64 * 1024);
    const r = await post(null, { raw: bomb });
    expect(r.status).toBe(413);
    expect((await body(r)).error).toMatch(/inflates beyond 262144 bytes/);
    expect(await store.count()).toBe(before);
  });
});

describe('POST /batches with the default limits', () => {
  // Bodies above 64 KiB compressed are inflated in the thread pool, smaller ones on the event loop.
  let big: Server;
  let url: string;
  beforeAll(async () => {
    const app = express();
    app.use('/r', createReportsRouter({ store, logger: pino({ level: 'silent' }) }));
    await new Promise<void>((resolve) => {
      big = app.listen(0, '127.0.0.1', () => resolve());
    });
    url = `http://127.0.0.1:${(big.address() as { port: number }).port}/r/batches`;
  });
  afterAll(() => new Promise((r) => big.close(r)));
  const send = (gz: Buffer) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gz,
    });

  it('stores a batch whose gzip body is over 64 KiB', async () => {
    const records = Array.from({ length: 400 }, (_, i) =>
      record(100 + i, { url: `http://batch.example/${randomBytes(200).toString('hex')}` }),
    );
    const gz = gzipSync(JSON.stringify({ batchId: 'r1-large', slave: 'r1', records }));
    expect(gz.length).toBeGreaterThan(64 * 1024);
    const before = await store.count();
    const r = await send(gz);
    expect(await r.json()).toEqual({ batchId: 'r1-large', inserted: 400, duplicate: false });
    expect(await store.count()).toBe(before + 400);
  });

  it('answers 413 for a gzip bomb over 64 KiB compressed', async () => {
    const bomb = gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20), { level: 1 });
    expect(bomb.length).toBeGreaterThan(64 * 1024);
    const r = await send(bomb);
    expect(r.status).toBe(413);
    expect((await body(r)).error).toMatch(/inflates beyond 33554432 bytes/);
  });
});

describe('report queries', () => {
  const get = async (path: string) => {
    const r = await fetch(`${base}${path}`);
    return {
      status: r.status,
      type: r.headers.get('content-type') ?? '',
      disposition: r.headers.get('content-disposition'),
      text: await r.text(),
    };
  };

  it('answers every report as JSON over the requested window', async () => {
    expect(JSON.parse((await get(`/summary?${W}`)).text)).toMatchObject({ requests: 9, blocked: 3 });
    expect(JSON.parse((await get(`/top-sites?${W}&limit=2`)).text).map((r: { host: string }) => r.host)).toEqual([
      'example.com',
      'other.org',
    ]);
    expect(
      JSON.parse((await get(`/top-users?${W}&host=EXAMPLE.com`)).text).map((r: { user: string }) => r.user),
    ).toEqual(['alice', 'bob']);
    expect(JSON.parse((await get(`/blocked?${W}`)).text)).toHaveLength(2);
    expect(JSON.parse((await get(`/per-slave?${W}`)).text).map((r: { slave: string }) => r.slave)).toEqual([
      's1',
      's2',
    ]);
    expect(JSON.parse((await get(`/timeline?${W}&bucket=day`)).text)).toHaveLength(2);
    expect(JSON.parse((await get(`/categories?${W}&action=deny`)).text)).toEqual([
      { category: 'social', requests: 3, blocked: 3, bytesDown: 0, bytesUp: 30 },
    ]);
    const iso = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 60_000).toISOString()}`;
    expect(JSON.parse((await get(`/summary?${iso}`)).text).requests).toBe(1);
  });

  it('pages search results with the cursor it hands out', async () => {
    const first = JSON.parse((await get(`/search?${W}&limit=5`)).text);
    expect(first.records).toHaveLength(5);
    const second = JSON.parse((await get(`/search?${W}&limit=5&cursor=${first.nextCursor}`)).text);
    expect(second.records).toHaveLength(4);
    expect(second.nextCursor).toBeNull();
    expect(second.records[0].time).toBeLessThanOrEqual(first.records[4].time);
  });

  it('exports CSV with a header row, ISO times and quoting that survives a spreadsheet', async () => {
    await store.ingestBatch('csv-1', 'c1', [
      record(1, { slave: 'c1', url: 'http://q.example/a,"b"', user: '=cmd|calc', time: T0 + 30_000 }),
    ]);
    const r = await get(`/search?${W}&slave=c1&format=csv`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/csv/);
    expect(r.disposition).toMatch(/^attachment; filename="?safesquid-search-[0-9T-]+\.csv"?$/);
    const lines = r.text.split('\r\n');
    expect(lines[0]).toBe(
      'time,slave,client,user,method,host,url,status,action,rule,category,bytes_up,bytes_down,duration_ms,policy_hash',
    );
    expect(lines[1]).toBe(
      `${new Date(T0 + 30_000).toISOString()},c1,127.0.0.1,'=cmd|calc,GET,batch.example,"http://q.example/a,""b""",200,allow,,,1,2,3,`,
    );
    expect(lines[2]).toBe('');
    const sites = await get(`/top-sites?${W}&format=csv&limit=1`);
    expect(sites.text).toBe(
      'host,requests,blocked,bytes_down,bytes_up,distinct_users\r\nexample.com,4,1,1200,40,2\r\n',
    );
  });

  it('names the bad parameter in a 400', async () => {
    const cases: [string, string][] = [
      ['/summary?from=yesterday', 'from'],
      [`/summary?from=${T0}&to=${T0}`, 'from'],
      ['/top-sites?limit=0', 'limit'],
      ['/top-sites?limit=abc', 'limit'],
      ['/summary?action=block', 'action'],
      ['/summary?frm=1', 'frm'],
      ['/summary?limit=3', 'limit'],
      ['/timeline?bucket=week', 'bucket'],
      [`/timeline?bucket=minute&from=0&to=${T0}`, 'bucket'],
      ['/search?cursor=nonsense', 'cursor'],
      ['/summary?user=', 'user'],
      ['/summary?user=a&user=b', 'user'],
      ['/summary?format=xml', 'format'],
    ];
    for (const [path, parameter] of cases) {
      const r = await get(path);
      expect({ path, status: r.status, parameter: JSON.parse(r.text).parameter }).toEqual({
        path,
        status: 400,
        parameter,
      });
    }
  });
});
