import { join } from 'node:path';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createReportsRouter } from '../reports/reports-router.js';
import { startRetention } from '../reports/retention.js';
import { openReportStore } from '../reports/open-report-store.js';
import type { ReportStore } from '../reports/store.js';

export interface MasterReports {
  store: ReportStore;
  router: RequestHandler;
  close(): Promise<void>;
}

/** Opens the report store (SQLite in the data dir, or PostgreSQL), its router and retention. */
export async function openMasterReports(o: {
  dataDir: string;
  postgresUrl?: string;
  retentionDays: number;
  logger: Logger;
  registry: Registry;
}): Promise<MasterReports> {
  const where = o.postgresUrl ? 'PostgreSQL' : join(o.dataDir, 'reports.db');
  let store: ReportStore;
  try {
    store = await openReportStore(
      o.postgresUrl ? { postgresUrl: o.postgresUrl } : { sqlitePath: join(o.dataDir, 'reports.db') },
    );
  } catch (err) {
    throw new Error(`cannot open the report store (${where}): ${err instanceof Error ? err.message : String(err)}`);
  }
  const logger = o.logger.child({ component: 'reports' });
  const retention = startRetention({ store, retentionDays: o.retentionDays, logger });
  o.logger.info({ store: where, retentionDays: o.retentionDays }, 'report store open');
  return {
    store,
    router: createReportsRouter({ store, logger, registry: o.registry }),
    async close() {
      await retention.stop();
      await store.close();
    },
  };
}
