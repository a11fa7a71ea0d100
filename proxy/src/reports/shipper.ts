/**
 * The slave's report shipper: drains the RecordQueue into batches (bounded by size and time),
 * spools each batch to disk BEFORE sending it, and deletes it only after the master's 2xx.
 * One batch in flight at a time, oldest first, so the master receives batches in order.
 * A master that is away gets retries with exponential backoff and full jitter; meanwhile the
 * spool grows up to its byte bound, past which the OLDEST batches are dropped (and counted).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RecordQueue } from './record-queue.js';
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
  /** First retry delay after a failure; doubles up to retryMaxMs (full jitter). Defaults 500 ms, 30 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Per-request timeout. Default 15 s. */
  requestTimeoutMs?: number;
  /** How long stop() keeps delivering before it leaves the rest spooled. Default 5 s. */
  stopDeadlineMs?: number;
  /** PEM certificates trusted for an https:// master (a private CA) instead of the system's. */
  ca?: string;
}

export interface ReportShipper {
  stop(): Promise<void>;
  /** Cuts every queued record into batches and tries to deliver the whole spool now. */
  flush(): Promise<void>;
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

export function startReportShipper(opts: ReportShipperOptions): ReportShipper {
  const { queue, logger, slaveName } = opts;
  const batchSize = opts.batchSize ?? 10_000;
  const maxBatchJson = opts.maxBatchJsonBytes ?? 3.5 * 1024 * 1024;
  const flushIntervalMs = opts.flushIntervalMs ?? 1000;
  const spoolLimit = opts.spoolLimitBytes ?? 256 * 1024 * 1024;
  const retryBase = opts.retryBaseMs ?? 500;
  const retryMax = opts.retryMaxMs ?? 30_000;
  const requestTimeout = opts.requestTimeoutMs ?? 15_000;
  const stopDeadline = opts.stopDeadlineMs ?? 5000;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`report batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(maxBatchJson) || maxBatchJson < 1) {
    throw new RangeError(`report maxBatchJsonBytes must be a positive integer, got ${maxBatchJson}`);
  }
  const endpoint = new URL(`${opts.masterUrl.replace(/\/+$/, '')}/api/v1/reports/batches`);
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
    throw new Error(`report shipper: master URL must be http(s), got "${opts.masterUrl}"`);
  }
  const client = endpoint.protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: 1, ...(opts.ca ? { ca: opts.ca } : {}) });
  const idPrefix = batchIdPrefix(slaveName);
  const spool = new Spool(opts.spoolDir);
  if (spool.batches > 0) {
    logger.info(
      { batches: spool.batches, records: spool.records, bytes: spool.bytes },
      'report spool holds batches from an earlier run; delivering them first',
    );
  }

  const registers = [opts.registry];
  // The proxy may already export the depth of the queue it fills on this registry.
  if (!opts.registry.getSingleMetric('safesquid_report_queue_depth')) {
    new Gauge({
      name: 'safesquid_report_queue_depth',
      help: 'Access records waiting in memory to be batched',
      registers,
      collect() {
        this.set(queue.size);
      },
    });
  }
  new Gauge({
    name: 'safesquid_report_queue_bytes',
    help: 'Bytes of access records (their JSON) waiting in memory to be batched',
    registers,
    collect() {
      this.set(queue.bytes);
    },
  });
  new Gauge({
    name: 'safesquid_report_spool_bytes',
    help: 'Bytes of report batches spooled on disk, not yet acknowledged',
    registers,
    collect() {
      this.set(spool.bytes);
    },
  });
  new Gauge({
    name: 'safesquid_report_spool_batches',
    help: 'Report batches spooled on disk, not yet acknowledged',
    registers,
    collect() {
      this.set(spool.batches);
    },
  });
  const sentRecords = new Counter({
    name: 'safesquid_report_records_sent_total',
    help: 'Access records acknowledged by the master',
    registers,
  });
  const sentBatches = new Counter({
    name: 'safesquid_report_batches_sent_total',
    help: 'Report batches acknowledged by the master',
    registers,
  });
  const failures = new Counter({
    name: 'safesquid_report_send_failures_total',
    help: 'Failed attempts to deliver a report batch (retried)',
    registers,
  });
  const rejected = new Counter({
    name: 'safesquid_report_batches_rejected_total',
    help: "Report batches the master refused as malformed, moved to the spool's rejected/",
    registers,
  });
  const dropped = new Counter({
    name: 'safesquid_report_records_dropped_total',
    help: 'Access records lost: queue full (master slow), spool full (master away too long), or invalid (the master refused the record)',
    labelNames: ['reason'] as const,
    registers,
  });
  dropped.inc({ reason: 'queue_full' }, 0);
  dropped.inc({ reason: 'spool_full' }, 0);
  dropped.inc({ reason: 'invalid' }, 0);

  let queueDroppedSeen = queue.dropped;
  let lastCut = Date.now();
  let cutting: Promise<void> = Promise.resolve();
  let pumping: Promise<void> | undefined;
  /** The batch being read or sent: the spool bound must not drop it from under us. */
  let current: SpoolEntry | undefined;
  let abortInFlight: (() => void) | undefined;
  let attempt = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let unreachableSince: number | undefined;
  let stopped = false;

  const noteQueueDrops = () => {
    const d = queue.dropped - queueDroppedSeen;
    if (d > 0) {
      dropped.inc({ reason: 'queue_full' }, d);
      queueDroppedSeen = queue.dropped;
    }
  };

  const slaveJson = JSON.stringify(slaveName);
  /** Takes the next batch from the queue (synchronously: batches are cut in order), then gzips and spools it. */
  const writeBatch = async (): Promise<void> => {
    const batchId = `${idPrefix}-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const taken = queue.take(batchSize, maxBatchJson, `"batchId":"${batchId}","slave":${slaveJson}`);
    if (!taken) return;
    // Level 1: a third of level 6's CPU on the slave for ~20 % more bytes (access records compress ~6x anyway).
    // zlib's thread pool does it: the event loop goes on serving requests.
    const body = await gzipAsync(taken.json, { level: 1 });
    try {
      await spool.append(batchId, taken.records, body);
    } catch (err) {
      dropped.inc({ reason: 'spool_full' }, taken.records);
      logger.error(
        { err, spoolDir: opts.spoolDir, records: taken.records },
        'cannot write a report batch to the spool; its records are lost',
      );
      return;
    }
    const lost = spool.enforceLimit(spoolLimit, current);
    if (lost > 0) {
      dropped.inc({ reason: 'spool_full' }, lost);
      logger.warn({ records: lost, spoolLimitBytes: spoolLimit }, 'report spool full: dropped the oldest batches');
    }
  };

  /** Cuts full batches, and the partial one too when `all` or when it has waited flushIntervalMs. */
  const cut = (all: boolean): Promise<void> => {
    cutting = cutting.then(async () => {
      noteQueueDrops();
      // A queue holding a batch's worth of bytes holds a full batch too, even below batchSize records.
      while (
        queue.size >= batchSize ||
        queue.bytes >= maxBatchJson ||
        (queue.size > 0 && (all || Date.now() - lastCut >= flushIntervalMs))
      ) {
        lastCut = Date.now();
        await writeBatch();
      }
      if (queue.size === 0) lastCut = Date.now();
    });
    return cutting;
  };

  const send = (body: Buffer): Promise<SendOutcome> =>
    new Promise((resolve) => {
      let settled = false;
      const done = (o: SendOutcome) => {
        if (!settled) {
          settled = true;
          abortInFlight = undefined;
          resolve(o);
        }
      };
      const req = client.request(endpoint, {
        method: 'POST',
        agent,
        timeout: requestTimeout,
        headers: {
          authorization: `Bearer ${typeof opts.token === 'function' ? opts.token() : opts.token}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': body.length,
          'x-safesquid-slave': slaveName,
        },
      });
      abortInFlight = () => req.destroy(new Error('shipper stopped'));
      req.on('timeout', () => req.destroy(new Error(`no answer within ${requestTimeout} ms`)));
      req.on('error', (err) => done({ kind: 'retry', reason: err.message }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if ((size += c.length) <= 4096) chunks.push(c);
        });
        res.on('error', (err) => done({ kind: 'retry', reason: err.message }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 500);
          if (status >= 200 && status < 300) done({ kind: 'ok' });
          else if (PERMANENT.has(status)) done({ kind: 'rejected', status, reason: text });
          else done({ kind: 'retry', reason: `HTTP ${status} ${text}` });
        });
      });
      req.end(body);
    });

  /**
   * The master refused a batch for one record: takes that record out, so the others are not set
   * aside with it, and spools the rest in the batch's place (same id: nothing of it was stored).
   * False when the batch cannot be cut that way (the 400 names no record of it).
   */
  let droppedFrom: { batchId: string; records: number } | undefined;
  const dropRefusedRecord = async (entry: SpoolEntry, body: Buffer, reason: string): Promise<boolean> => {
    const index = refusedRecordIndex(reason);
    if (index === undefined) return false;
    if (droppedFrom?.batchId !== entry.batchId) droppedFrom = { batchId: entry.batchId, records: 0 };
    if (droppedFrom.records >= MAX_DROPPED_PER_BATCH) return false;
    let batch: { rows?: unknown[]; records?: unknown[] };
    try {
      batch = JSON.parse((await gunzipAsync(body)).toString('utf8')) as typeof batch;
    } catch {
      return false;
    }
    const list = Array.isArray(batch.rows) ? batch.rows : Array.isArray(batch.records) ? batch.records : undefined;
    if (!list || index >= list.length) return false;
    const [record] = list.splice(index, 1);
    droppedFrom.records++;
    dropped.inc({ reason: 'invalid' });
    logger.error(
      { batchId: entry.batchId, reason, record },
      'master refused a record of a report batch; dropped it, sending the rest',
    );
    if (list.length === 0) await spool.remove(entry);
    else await spool.replace(entry, list.length, await gzipAsync(JSON.stringify(batch), { level: 1 }));
    return true;
  };

  const scheduleRetry = () => {
    if (stopped || retryTimer) return;
    // Full jitter: ten slaves that lost the master together do not come back in lockstep.
    const delay = Math.random() * Math.min(retryMax, retryBase * 2 ** Math.min(attempt, 20));
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void pump();
    }, delay);
    retryTimer.unref();
  };

  /** Delivers spooled batches oldest first until the spool is empty or an attempt fails. */
  const pump = (): Promise<void> => {
    pumping ??= (async () => {
      try {
        for (let entry = spool.oldest(); entry; entry = spool.oldest()) {
          current = entry;
          let body: Buffer;
          try {
            body = await spool.read(entry);
          } catch (err) {
            logger.error({ err, file: entry.name }, 'cannot read a spooled report batch; setting it aside');
            await spool.reject(entry).catch(() => spool.remove(entry!));
            rejected.inc();
            continue;
          }
          const outcome = await send(body);
          if (outcome.kind === 'ok') {
            await spool.remove(entry);
            sentBatches.inc();
            sentRecords.inc(entry.records);
            attempt = 0;
            if (unreachableSince !== undefined) {
              logger.info(
                { downMs: Date.now() - unreachableSince, spooledBatches: spool.batches },
                'master reachable again; delivering spooled reports',
              );
              unreachableSince = undefined;
            }
          } else if (outcome.kind === 'rejected') {
            if (outcome.status === 400 && (await dropRefusedRecord(entry, body, outcome.reason))) continue;
            await spool.reject(entry);
            rejected.inc();
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
            failures.inc();
            attempt++;
            if (unreachableSince === undefined) {
              unreachableSince = Date.now();
              logger.warn(
                { master: endpoint.origin, reason: outcome.reason, spooledBatches: spool.batches },
                'cannot deliver reports to the master; spooling and retrying',
              );
            }
            scheduleRetry();
            return;
          }
        }
      } finally {
        current = undefined;
        pumping = undefined;
      }
    })();
    return pumping;
  };

  const tick = setInterval(
    () => {
      void cut(false)
        .then(() => {
          if (!retryTimer && spool.batches > 0) return pump();
        })
        .catch((err: unknown) => logger.error({ err }, 'report shipper tick failed'));
    },
    Math.max(10, Math.min(100, flushIntervalMs)),
  );
  tick.unref();

  const deliverNow = async () => {
    await cut(true);
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = undefined;
    }
    await pumping;
    await pump();
  };

  return {
    flush: deliverNow,
    async stop() {
      if (stopped) return;
      clearInterval(tick);
      await cut(true);
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          abortInFlight?.();
          resolve();
        }, stopDeadline);
      });
      // One attempt at what is spooled; what is left stays on disk for the next start.
      await Promise.race([
        (async () => {
          await pumping;
          await pump();
        })(),
        deadline,
      ]);
      clearTimeout(timer);
      await pumping;
      agent.destroy();
      if (spool.batches > 0)
        logger.info(
          { batches: spool.batches, records: spool.records },
          'report shipper stopped; batches left in the spool for the next start',
        );
    },
  };
}
