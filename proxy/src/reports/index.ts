/** Reports: access records up from slaves, storage and queries on the master. */
export type { AccessRecord } from './access-record.js';
export { RecordQueue } from './record-queue.js';
export * from './query-types.js';
export { openReportStore } from './open-report-store.js';
export type { ReportStore, ReportStoreOptions } from './store.js';
export { createReportsRouter, type ReportsRouterOptions } from './reports-router.js';
export { startRetention, type Retention, type RetentionOptions } from './retention.js';
export { startReportShipper, type ReportShipper, type ReportShipperOptions } from './shipper.js';
