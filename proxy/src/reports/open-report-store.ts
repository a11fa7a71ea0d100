import type { ReportStore, ReportStoreOptions } from './store.js';

/** Opens the SQLite store, or PostgreSQL when a URL is given; each driver loads only when used. */
export async function openReportStore(opts: ReportStoreOptions): Promise<ReportStore> {
  if ('postgresUrl' in opts) {
    const { openPostgresReportStore } = await import('./store-postgres.js');
    return openPostgresReportStore(opts.postgresUrl);
  }
  const { openSqliteReportStore } = await import('./store-sqlite.js');
  return openSqliteReportStore(opts.sqlitePath);
}
