/**
 * Report retention: deletes records older than `retentionDays`, in bounded chunks with a
 * pause between them so ingestion and queries keep flowing while a large backlog is purged.
 */
import type { Logger } from 'pino';
import type { ReportStore } from './store.js';

export interface RetentionOptions {
  store: ReportStore;
  retentionDays: number;
  logger: Logger;
  /** How often to look for expired records. Default every hour. */
  intervalMs?: number;
  /** Records per delete. Default 10 000. */
  chunk?: number;
  /** Pause between chunks. Default 50 ms. */
  pauseMs?: number;
}

export interface Retention {
  /** Runs one purge now (all chunks) and returns the records deleted. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export function startRetention(opts: RetentionOptions): Retention {
  const { store, logger } = opts;
  if (!(opts.retentionDays > 0)) {
    throw new RangeError(`reports retentionDays must be a positive number of days, got ${opts.retentionDays}`);
  }
  const retentionMs = opts.retentionDays * 86_400_000;
  const chunk = opts.chunk ?? 10_000;
  const pauseMs = opts.pauseMs ?? 50;
  let stopped = false;
  let running: Promise<number> | undefined;

  const purge = async (): Promise<number> => {
    const cutoff = Date.now() - retentionMs;
    let total = 0;
    for (;;) {
      const n = await store.purgeOlderThan(cutoff, chunk);
      total += n;
      if (n < chunk || stopped) break;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    if (total > 0) {
      logger.info(
        { deleted: total, before: new Date(cutoff).toISOString(), retentionDays: opts.retentionDays },
        'report retention purged old records',
      );
    }
    return total;
  };

  const runOnce = (): Promise<number> => {
    running ??= purge().finally(() => {
      running = undefined;
    });
    return running;
  };

  const tick = () => {
    runOnce().catch((err: unknown) => logger.error({ err }, 'report retention purge failed; will retry next interval'));
  };
  const first = setTimeout(tick, 1000);
  const timer = setInterval(tick, opts.intervalMs ?? 3_600_000);
  first.unref();
  timer.unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
