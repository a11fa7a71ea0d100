/**
 * The slave's report shipper: drains the RecordQueue into batches (bounded by size and time),
 * spools each batch to disk BEFORE sending it, and deletes it only after the master's 2xx.
 * One batch in flight at a time, oldest first, so the master receives batches in order.
 * A master that is away gets retries with exponential backoff and full jitter; meanwhile the
 * spool grows up to its byte bound, past which the OLDEST batches are dropped (and counted).
 */
import { randomBytes } from 'node:crypto';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { backoffDelay } from '../net/backoff.js';
import { MasterClient, describeNetError } from '../net/master-client.js';
import type { RecordQueue } from './record-queue.js';
import { ShipperMetrics } from './shipper-metrics.js';
import { Spool, type SpoolEntry } from './spool.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface ReportShipperOptions {
  queue: RecordQueue;
  /** e.g. `http://master:8888`; batches go to `<masterUrl>/api/v1/reports/batches`. */
  masterUrl: string;
  /** The cluster token (`Authorization: Bearer`); a function lets a rotated Secret take effect. */
  token: string | (() => string);
  /** Spool directory on the slave's state volume. */
  spoolDir: string;
  /** The batch's slave (its records carry no name of their own), sent as X-SafeSquid-Slave too. */
  slaveName: string;
  logger: Logger;
  registry: Registry;
  /**
   * Most records per batch. Default 10 000: per-batch costs (spool file, request, the master's
   * answer) still weighed ~7 % of a busy slave's CPU per request at 2000 (bench/reports, "on":
   * +26 % at 2000, +12 % at 20 000), and the master commits fewer, larger transactions.
   */
  batchSize?: number;
  /**
   * Most bytes of a batch's JSON (before gzip); a batch is cut short of batchSize records rather
   * than pass it (a single longer record goes alone). Default 3.5 MiB: even
   * incompressible, it stays under the master's 4 MiB request bound (and far under its 32 MiB
   * inflated one), so long URLs never make a batch the master must refuse.
   */
  maxBatchJsonBytes?: number;
  /** Longest a record waits in the queue before its (partial) batch is cut. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Spool bound. Default 256 MiB. */
  spoolLimitBytes?: number;
  /** First retry delay after a failure; doubles up to retryMaxMs (equal jitter, net/backoff.ts). Defaults 500 ms, 30 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Per-request timeout. Default 15 s. */
  requestTimeoutMs?: number;
  /** How long stop() keeps delivering before it leaves the rest spooled. Default 5 s. */
  stopDeadlineMs?: number;
  /** PEM certificates trusted for an https:// master (a private CA) instead of the system's. */
  ca?: string;
}

type SendOutcome =
  | { kind: 'ok' }
  | { kind: 'rejected'; status: number; reason: string }
  | { kind: 'retry'; reason: string };

/** 4xx answers that mean "this batch will never be accepted": set it aside. Others (401/403/404/408/429) may heal. */
const PERMANENT = new Set([400, 413, 415, 422]);

/**
 * Most records of one batch dropped one at a time for the master's 400s: past it the fault is not
 * in single records, and the whole batch is set aside.
 */
const MAX_DROPPED_PER_BATCH = 100;

/** The record a 400 names: the master's validation answers `{"error", "field", "index"}`. */
function refusedRecordIndex(reason: string): number | undefined {
  try {
    const index = (JSON.parse(reason) as { index?: unknown }).index;
    return Number.isInteger(index) && (index as number) >= 0 ? (index as number) : undefined;
  } catch {
    return undefined;
  }
}

/** Batch ids double as file names: keep the slave's name path-safe. */
function batchIdPrefix(slave: string): string {
  const safe = slave.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  return /^[A-Za-z0-9]/.test(safe) ? safe : `s${safe}`;
}

/** Starts a shipper (kept for callers written before the class). */
export function startReportShipper(opts: ReportShipperOptions): ReportShipper {
  return new ReportShipper(opts);
}

/**
 * Delivers what the proxy queued. Its state: `cutting` (batches are cut in order, one after the
 * other), `pumping` (the one delivery loop), `current` (the batch being read or sent, which the
 * spool bound must not drop), the retry `attempt` and its timer, and since when the master has
 * been unreachable (for one warning per outage, and one "reachable again").
 */
export class ReportShipper {
  /** The client every slave → master request of this shipper goes through (one connection). */
  readonly client: MasterClient;
  readonly spool: Spool;
  readonly metrics: ShipperMetrics;
  private readonly queue: RecordQueue;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly maxBatchJson: number;
  private readonly flushIntervalMs: number;
  private readonly spoolLimit: number;
  private readonly retryBase: number;
  private readonly retryMax: number;
  private readonly requestTimeout: number;
  private readonly stopDeadline: number;
  private readonly idPrefix: string;
  private readonly slaveJson: string;
  private readonly tick: NodeJS.Timeout;

  private queueDroppedSeen: number;
  private lastCut = Date.now();
  private cutting: Promise<void> = Promise.resolve();
  private pumping: Promise<void> | undefined;
  /** The batch being read or sent: the spool bound must not drop it from under us. */
  private current: SpoolEntry | undefined;
  private inFlight: AbortController | undefined;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private unreachableSince: number | undefined;
  private stopped = false;
  /** Records dropped one by one from the batch the master refuses records of (MAX_DROPPED_PER_BATCH). */
  private droppedFrom: { batchId: string; records: number } | undefined;

  constructor(private readonly opts: ReportShipperOptions) {
    this.queue = opts.queue;
    this.logger = opts.logger;
    this.batchSize = opts.batchSize ?? 10_000;
    this.maxBatchJson = opts.maxBatchJsonBytes ?? 3.5 * 1024 * 1024;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.spoolLimit = opts.spoolLimitBytes ?? 256 * 1024 * 1024;
    this.retryBase = opts.retryBaseMs ?? 500;
    this.retryMax = opts.retryMaxMs ?? 30_000;
    this.requestTimeout = opts.requestTimeoutMs ?? 15_000;
    this.stopDeadline = opts.stopDeadlineMs ?? 5000;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new RangeError(`report batchSize must be a positive integer, got ${this.batchSize}`);
    if (!Number.isInteger(this.maxBatchJson) || this.maxBatchJson < 1) {
      throw new RangeError(`report maxBatchJsonBytes must be a positive integer, got ${this.maxBatchJson}`);
    }
    try {
      // One connection: batches go one at a time, oldest first.
      this.client = new MasterClient({
        masterUrl: opts.masterUrl,
        token: opts.token,
        slaveName: opts.slaveName,
        ca: opts.ca,
        connections: 1,
      });
    } catch (err) {
      throw new Error(`report shipper: ${(err as Error).message}`);
    }
    this.idPrefix = batchIdPrefix(opts.slaveName);
    this.slaveJson = JSON.stringify(opts.slaveName);
    this.spool = new Spool(opts.spoolDir);
    if (this.spool.batches > 0) {
      this.logger.info(
        { batches: this.spool.batches, records: this.spool.records, bytes: this.spool.bytes },
        'report spool holds batches from an earlier run; delivering them first',
      );
    }
    this.metrics = new ShipperMetrics(opts.registry, this.queue, this.spool);
    this.queueDroppedSeen = this.queue.dropped;
    this.tick = setInterval(
      () => {
        void this.cut(false)
          .then(() => {
            if (!this.retryTimer && this.spool.batches > 0) return this.pump();
          })
          .catch((err: unknown) => this.logger.error({ err }, 'report shipper tick failed'));
      },
      Math.max(10, Math.min(100, this.flushIntervalMs)),
    );
    this.tick.unref();
  }

  /** Whether the last delivery attempt reached the master (true before the first one). */
  get masterReachable(): boolean {
    return this.unreachableSince === undefined;
  }

  /** Cuts every queued record into batches and tries to deliver the whole spool now. */
  async flush(): Promise<void> {
    await this.cut(true);
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.pumping;
    await this.pump();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.tick);
    await this.cut(true);
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.inFlight?.abort(new Error('shipper stopped'));
        resolve();
      }, this.stopDeadline);
    });
    // One attempt at what is spooled; what is left stays on disk for the next start.
    await Promise.race([
      (async () => {
        await this.pumping;
        await this.pump();
      })(),
      deadline,
    ]);
    clearTimeout(timer);
    await this.pumping;
    await this.client.close();
    if (this.spool.batches > 0)
      this.logger.info(
        { batches: this.spool.batches, records: this.spool.records },
        'report shipper stopped; batches left in the spool for the next start',
      );
  }

  private noteQueueDrops(): void {
    const d = this.queue.dropped - this.queueDroppedSeen;
    if (d > 0) {
      this.metrics.drop('queue_full', d);
      this.queueDroppedSeen = this.queue.dropped;
    }
  }

  /** Takes the next batch from the queue (synchronously: batches are cut in order), then gzips and spools it. */
  private async writeBatch(): Promise<void> {
    const batchId = `${this.idPrefix}-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const taken = this.queue.take(
      this.batchSize,
      this.maxBatchJson,
      `"batchId":"${batchId}","slave":${this.slaveJson}`,
    );
    if (!taken) return;
    // Level 1: a third of level 6's CPU on the slave for ~20 % more bytes (access records compress ~6x anyway).
    // zlib's thread pool does it: the event loop goes on serving requests.
    const body = await gzipAsync(taken.json, { level: 1 });
    try {
      await this.spool.append(batchId, taken.records, body);
    } catch (err) {
      this.metrics.drop('spool_full', taken.records);
      this.logger.error(
        { err, spoolDir: this.opts.spoolDir, records: taken.records },
        'cannot write a report batch to the spool; its records are lost',
      );
      return;
    }
    const lost = this.spool.enforceLimit(this.spoolLimit, this.current);
    if (lost > 0) {
      this.metrics.drop('spool_full', lost);
      this.logger.warn(
        { records: lost, spoolLimitBytes: this.spoolLimit },
        'report spool full: dropped the oldest batches',
      );
    }
  }

  /** Cuts full batches, and the partial one too when `all` or when it has waited flushIntervalMs. */
  private cut(all: boolean): Promise<void> {
    this.cutting = this.cutting.then(async () => {
      this.noteQueueDrops();
      const q = this.queue;
      // A queue holding a batch's worth of bytes holds a full batch too, even below batchSize records.
      while (
        q.size >= this.batchSize ||
        q.bytes >= this.maxBatchJson ||
        (q.size > 0 && (all || Date.now() - this.lastCut >= this.flushIntervalMs))
      ) {
        this.lastCut = Date.now();
        await this.writeBatch();
      }
      if (q.size === 0) this.lastCut = Date.now();
    });
    return this.cutting;
  }

  private async send(body: Buffer): Promise<SendOutcome> {
    const abort = new AbortController();
    this.inFlight = abort;
    try {
      const { status, text } = await this.client.request('/api/v1/reports/batches', {
        method: 'POST',
        timeoutMs: this.requestTimeout,
        signal: abort.signal,
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': String(body.length),
        },
        body,
      });
      const reason = text.slice(0, 500);
      if (status >= 200 && status < 300) return { kind: 'ok' };
      if (PERMANENT.has(status)) return { kind: 'rejected', status, reason };
      return { kind: 'retry', reason: `HTTP ${status} ${reason}` };
    } catch (err) {
      return { kind: 'retry', reason: describeNetError(err) };
    } finally {
      this.inFlight = undefined;
    }
  }

  /**
   * The master refused a batch for one record: takes that record out, so the others are not set
   * aside with it, and spools the rest in the batch's place (same id: nothing of it was stored).
   * False when the batch cannot be cut that way (the 400 names no record of it).
   */
  private async dropRefusedRecord(entry: SpoolEntry, body: Buffer, reason: string): Promise<boolean> {
    const index = refusedRecordIndex(reason);
    if (index === undefined) return false;
    if (this.droppedFrom?.batchId !== entry.batchId) this.droppedFrom = { batchId: entry.batchId, records: 0 };
    if (this.droppedFrom.records >= MAX_DROPPED_PER_BATCH) return false;
    let batch: { rows?: unknown[]; records?: unknown[] };
    try {
      batch = JSON.parse((await gunzipAsync(body)).toString('utf8')) as typeof batch;
    } catch {
      return false;
    }
    const list = Array.isArray(batch.rows) ? batch.rows : Array.isArray(batch.records) ? batch.records : undefined;
    if (!list || index >= list.length) return false;
    const [record] = list.splice(index, 1);
    this.droppedFrom.records++;
    this.metrics.drop('invalid');
    this.logger.error(
      { batchId: entry.batchId, reason, record },
      'master refused a record of a report batch; dropped it, sending the rest',
    );
    if (list.length === 0) await this.spool.remove(entry);
    else await this.spool.replace(entry, list.length, await gzipAsync(JSON.stringify(batch), { level: 1 }));
    return true;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    // The same backoff as the policy sync: slaves that lost the master together do not come back in lockstep.
    const delay = backoffDelay(this.attempt, { initialMs: this.retryBase, maxMs: this.retryMax });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.pump();
    }, delay);
    this.retryTimer.unref();
  }

  /** Delivers spooled batches oldest first until the spool is empty or an attempt fails. */
  private pump(): Promise<void> {
    this.pumping ??= this.deliverSpool().finally(() => {
      this.current = undefined;
      this.pumping = undefined;
    });
    return this.pumping;
  }

  private async deliverSpool(): Promise<void> {
    const { spool, metrics, logger } = this;
    for (let entry = spool.oldest(); entry; entry = spool.oldest()) {
      this.current = entry;
      let body: Buffer;
      try {
        body = await spool.read(entry);
      } catch (err) {
        logger.error({ err, file: entry.name }, 'cannot read a spooled report batch; setting it aside');
        await spool.reject(entry).catch(() => spool.remove(entry!));
        metrics.rejected.inc();
        continue;
      }
      const outcome = await this.send(body);
      if (outcome.kind === 'ok') {
        await spool.remove(entry);
        metrics.sentBatches.inc();
        metrics.sentRecords.inc(entry.records);
        this.attempt = 0;
        if (this.unreachableSince !== undefined) {
          logger.info(
            { downMs: Date.now() - this.unreachableSince, spooledBatches: spool.batches },
            'master reachable again; delivering spooled reports',
          );
          this.unreachableSince = undefined;
        }
      } else if (outcome.kind === 'rejected') {
        if (outcome.status === 400 && (await this.dropRefusedRecord(entry, body, outcome.reason))) continue;
        await spool.reject(entry);
        metrics.rejected.inc();
        logger.error(
          {
            batchId: entry.batchId,
            records: entry.records,
            status: outcome.status,
            reason: outcome.reason,
            movedTo: spool.rejectedDir,
          },
          'master refused a report batch; moved it aside',
        );
      } else {
        metrics.failures.inc();
        this.attempt++;
        if (this.unreachableSince === undefined) {
          this.unreachableSince = Date.now();
          logger.warn(
            { master: this.client.origin, reason: outcome.reason, spooledBatches: spool.batches },
            'cannot deliver reports to the master; spooling and retrying',
          );
        }
        this.scheduleRetry();
        return;
      }
    }
  }
}
