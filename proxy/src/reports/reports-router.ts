/**
 * `/api/v1/reports`: slaves POST batches of access records; the UI and admins query reports.
 * Mounted by the portal behind its access restriction (allow list + bearer token).
 */
import { gunzip, gunzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { HttpRefusal } from '../errors.js';
import { sendError } from '../net/error-body.js';
import { BatchValidationError, validateBatch } from './batch-validation.js';
import { isoTime, toCsv, type CsvColumn } from './csv.js';
import {
  checkKnown,
  parseBucket,
  parseCursor,
  parseFilter,
  parseFormat,
  parseInteger,
  QueryParamError,
  type Query,
} from './query-params.js';
import type {
  BlockedRow,
  CategoryRow,
  IngestResponse,
  PerSlaveRow,
  StoredRecord,
  SummaryResult,
  TimelineRow,
  TopSiteRow,
  TopUserRow,
} from './query-types.js';
import { ReportsRouterMetrics } from './reports-router-metrics.js';
import { IngestPausedError, type ReportStore } from './store.js';

const gunzipAsync = promisify(gunzip);
/**
 * Inflate output per thread-pool round trip. zlib's default (16 KiB) takes ~170 hand-overs between
 * the pool and the event loop for a 10 000-record batch (2.7 MB of JSON), each with its wake-ups:
 * about a quarter of the router's CPU per record.
 */
const GUNZIP_CHUNK_BYTES = 512 * 1024;
/** Compressed bodies up to this size (~2 500 records) are inflated on the event loop. */
const SYNC_GUNZIP_BYTES = 64 * 1024;

export interface ReportsRouterOptions {
  store: ReportStore;
  logger: Logger;
  registry?: Registry;
  /** Largest request body as sent (compressed). Default 4 MiB. */
  maxBatchBytes?: number;
  /** Largest body after gunzip: a small gzip body can inflate enormously. Default 8 × maxBatchBytes. */
  maxDecompressedBytes?: number;
  /** Default 10 000 records per batch. */
  maxRecords?: number;
}

function readBody(req: Request, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(
        new HttpRefusal(413, `batch of ${declared} bytes is over the limit of ${limit} bytes; send smaller batches`),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new HttpRefusal(413, `batch is over the limit of ${limit} bytes; send smaller batches`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('the slave closed the connection before sending the whole batch'));
    });
  });
}

/**
 * Runs jobs one per turn of the event loop, in order. Parsing and validating a 10 000-record
 * batch takes 10-20 ms; batches whose bodies finish arriving (or inflating) together would
 * otherwise be decoded back to back in one turn, and every other request waits for all of them.
 */
class OnePerTurn {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(job: () => T): Promise<T> {
    const result = this.last.then(
      () =>
        new Promise<T>((resolve, reject) => {
          // An immediate queued while immediates run waits for the next turn: I/O is polled in between.
          setImmediate(() => {
            try {
              resolve(job());
            } catch (err) {
              reject(err);
            }
          });
        }),
    );
    this.last = result.catch(() => undefined);
    return result;
  }
}

/** The reports API: batch ingestion (POST /batches) and the report queries. */
export class ReportsRouter {
  readonly router = express.Router();
  readonly metrics: ReportsRouterMetrics;
  private readonly store: ReportStore;
  private readonly logger: Logger;
  private readonly maxBatchBytes: number;
  private readonly maxDecompressed: number;
  private readonly maxRecords: number;
  private readonly decodeTurns = new OnePerTurn();

  constructor(opts: ReportsRouterOptions) {
    this.store = opts.store;
    this.logger = opts.logger;
    this.maxBatchBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
    this.maxDecompressed = opts.maxDecompressedBytes ?? 8 * this.maxBatchBytes;
    this.maxRecords = opts.maxRecords ?? 10_000;
    this.metrics = new ReportsRouterMetrics(opts.registry);
    this.router.post('/batches', (req, res) => this.ingest(req, res));
    this.queries();
  }

  private async ingest(req: Request, res: Response): Promise<void> {
    const started = process.hrtime.bigint();
    const slaveHeader = req.get('x-safesquid-slave');
    try {
      const type = (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') {
        throw new HttpRefusal(415, `Content-Type must be application/json, got "${type || '(none)'}"`);
      }
      const encoding = (req.get('content-encoding') ?? 'identity').trim().toLowerCase();
      if (encoding !== 'gzip' && encoding !== 'identity') {
        throw new HttpRefusal(415, `Content-Encoding must be gzip or identity, got "${encoding}"`);
      }
      const raw = await readBody(req, this.maxBatchBytes);
      let body = raw;
      if (encoding === 'gzip') {
        try {
          // A small body inflates in about a millisecond: here, without the two thread hand-overs.
          body =
            raw.length <= SYNC_GUNZIP_BYTES
              ? gunzipSync(raw, { maxOutputLength: this.maxDecompressed })
              : await gunzipAsync(raw, { maxOutputLength: this.maxDecompressed, chunkSize: GUNZIP_CHUNK_BYTES });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new HttpRefusal(413, `batch inflates beyond ${this.maxDecompressed} bytes; send smaller batches`);
          }
          throw new HttpRefusal(400, `body is not valid gzip: ${(err as Error).message}`);
        }
      } else if (body.length > this.maxDecompressed) {
        throw new HttpRefusal(413, `batch of ${body.length} bytes is over the limit of ${this.maxDecompressed} bytes`);
      }
      const json = body;
      const batch = await this.decodeTurns.run(() => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(json.toString('utf8'));
        } catch (err) {
          throw new HttpRefusal(400, `body is not valid JSON: ${(err as Error).message}`);
        }
        return validateBatch(parsed, slaveHeader, this.maxRecords);
      });
      let result;
      try {
        result = await this.store.ingestBatch(batch.batchId, batch.slave, batch.records);
      } catch (err) {
        if (err instanceof IngestPausedError) throw new HttpRefusal(503, `${err.message}; retry later`);
        this.logger.error({ err, batchId: batch.batchId, slave: batch.slave }, 'report store failed to ingest a batch');
        throw new HttpRefusal(503, `report store unavailable: ${(err as Error).message}; retry later`);
      }
      this.metrics.batches.inc({ result: result.duplicate ? 'duplicate' : 'inserted' });
      this.metrics.ingestedRecords.inc(result.inserted);
      if (result.duplicate)
        this.logger.info(
          { batchId: batch.batchId, slave: batch.slave },
          'duplicate report batch acknowledged, nothing stored',
        );
      const answer: IngestResponse = { batchId: batch.batchId, ...result };
      res.json(answer);
    } catch (err) {
      if (err instanceof BatchValidationError) {
        this.metrics.batches.inc({ result: 'invalid' });
        this.logger.warn({ slave: slaveHeader, err: err.message }, 'report batch refused');
        sendError(res, 400, err.message, {
          code: err.code,
          field: err.field,
          ...(err.index === undefined ? {} : { index: err.index }),
        });
      } else if (err instanceof HttpRefusal) {
        this.metrics.batches.inc({ result: err.status === 503 ? 'store_error' : 'invalid' });
        if (err.status !== 503)
          this.logger.warn({ slave: slaveHeader, status: err.status, err: err.message }, 'report batch refused');
        sendError(res, err.status, err.message, err.details);
      } else {
        this.logger.error({ err, slave: slaveHeader }, 'report batch failed');
        sendError(res, 500, 'internal error while ingesting the batch');
      }
    } finally {
      this.metrics.ingestSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** One report endpoint: parse, query, answer JSON or CSV. */
  private report<T>(
    path: string,
    extraParams: readonly string[],
    run: (q: Query) => Promise<{ json: unknown; rows: readonly T[] }>,
    columns: readonly CsvColumn<T>[],
  ) {
    this.router.get(path, async (req, res) => {
      const q = req.query as Query;
      try {
        checkKnown(q, extraParams);
        const format = parseFormat(q);
        const { json, rows } = await run(q);
        if (format === 'csv') {
          const name = `safesquid-${path.slice(1)}-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv`;
          res.type('text/csv; charset=utf-8').attachment(name).send(toCsv(columns, rows));
        } else {
          res.json(json);
        }
      } catch (err) {
        if (err instanceof QueryParamError) {
          sendError(res, 400, err.message, { code: err.code, parameter: err.parameter });
        } else if (err instanceof RangeError && /^cursor/.test(err.message)) {
          sendError(res, 400, err.message, { parameter: 'cursor' });
        } else {
          this.logger.error({ err, path, query: q }, 'report query failed');
          sendError(res, 500, `report ${path} failed: ${(err as Error).message}`);
        }
      }
    });
  }

  private queries(): void {
    const topLimit = (q: Query) => parseInteger(q, 'limit', 1, 1000, 10);
    const traffic = <
      T extends { requests: number; blocked: number; bytesDown: number; bytesUp: number },
    >(): CsvColumn<T>[] => [
      { header: 'requests', value: (r) => r.requests },
      { header: 'blocked', value: (r) => r.blocked },
      { header: 'bytes_down', value: (r) => r.bytesDown },
      { header: 'bytes_up', value: (r) => r.bytesUp },
    ];

    this.report<SummaryResult>(
      '/summary',
      [],
      async (q) => {
        const s = await this.store.summary(parseFilter(q));
        return { json: s, rows: [s] };
      },
      [
        { header: 'from', value: (r) => isoTime(r.from) },
        { header: 'to', value: (r) => isoTime(r.to) },
        ...traffic<SummaryResult>(),
        { header: 'distinct_users', value: (r) => r.distinctUsers },
        { header: 'distinct_hosts', value: (r) => r.distinctHosts },
        { header: 'distinct_slaves', value: (r) => r.distinctSlaves },
        { header: 'first_time', value: (r) => isoTime(r.firstTime) },
        { header: 'last_time', value: (r) => isoTime(r.lastTime) },
      ],
    );

    this.report<TopSiteRow>(
      '/top-sites',
      ['limit'],
      async (q) => {
        const rows = await this.store.topSites({ filter: parseFilter(q), limit: topLimit(q) });
        return { json: rows, rows };
      },
      [
        { header: 'host', value: (r) => r.host },
        ...traffic<TopSiteRow>(),
        { header: 'distinct_users', value: (r) => r.distinctUsers },
      ],
    );

    this.report<TopUserRow>(
      '/top-users',
      ['limit'],
      async (q) => {
        const rows = await this.store.topUsers({ filter: parseFilter(q), limit: topLimit(q) });
        return { json: rows, rows };
      },
      [
        { header: 'user', value: (r) => r.user },
        ...traffic<TopUserRow>(),
        { header: 'distinct_hosts', value: (r) => r.distinctHosts },
      ],
    );

    this.report<BlockedRow>(
      '/blocked',
      ['limit'],
      async (q) => {
        const rows = await this.store.blocked({ filter: parseFilter(q), limit: topLimit(q) });
        return { json: rows, rows };
      },
      [
        { header: 'rule', value: (r) => r.rule },
        { header: 'host', value: (r) => r.host },
        { header: 'category', value: (r) => r.category },
        { header: 'requests', value: (r) => r.requests },
        { header: 'distinct_users', value: (r) => r.distinctUsers },
        { header: 'last_time', value: (r) => isoTime(r.lastTime) },
      ],
    );

    this.report<PerSlaveRow>(
      '/per-slave',
      [],
      async (q) => {
        const rows = await this.store.perSlave(parseFilter(q));
        return { json: rows, rows };
      },
      [
        { header: 'slave', value: (r) => r.slave },
        ...traffic<PerSlaveRow>(),
        { header: 'first_time', value: (r) => isoTime(r.firstTime) },
        { header: 'last_time', value: (r) => isoTime(r.lastTime) },
      ],
    );

    this.report<TimelineRow>(
      '/timeline',
      ['bucket'],
      async (q) => {
        const filter = parseFilter(q);
        const rows = await this.store.timeline(filter, parseBucket(q, filter));
        return { json: rows, rows };
      },
      [{ header: 'time', value: (r) => isoTime(r.time) }, ...traffic<TimelineRow>()],
    );

    this.report<CategoryRow>(
      '/categories',
      [],
      async (q) => {
        const rows = await this.store.categories(parseFilter(q));
        return { json: rows, rows };
      },
      [{ header: 'category', value: (r) => r.category }, ...traffic<CategoryRow>()],
    );

    this.report<StoredRecord>(
      '/search',
      ['limit', 'cursor'],
      async (q) => {
        // A CSV export may be long; a JSON page is what a screen shows.
        const csv = parseFormat(q) === 'csv';
        const limit = parseInteger(q, 'limit', 1, csv ? 100_000 : 1000, csv ? 10_000 : 100);
        const result = await this.store.search({ filter: parseFilter(q), limit, cursor: parseCursor(q) });
        return { json: result, rows: result.records };
      },
      [
        { header: 'time', value: (r) => isoTime(r.time) },
        { header: 'slave', value: (r) => r.slave },
        { header: 'client', value: (r) => r.client },
        { header: 'user', value: (r) => r.user },
        { header: 'method', value: (r) => r.method },
        { header: 'host', value: (r) => r.host },
        { header: 'url', value: (r) => r.url },
        { header: 'status', value: (r) => r.status },
        { header: 'action', value: (r) => r.action },
        { header: 'rule', value: (r) => r.rule },
        { header: 'category', value: (r) => r.category },
        { header: 'bytes_up', value: (r) => r.bytesUp },
        { header: 'bytes_down', value: (r) => r.bytesDown },
        { header: 'duration_ms', value: (r) => r.durationMs },
        { header: 'policy_hash', value: (r) => r.policyHash },
      ],
    );
  }
}

export function createReportsRouter(opts: ReportsRouterOptions): express.Router {
  return new ReportsRouter(opts).router;
}
