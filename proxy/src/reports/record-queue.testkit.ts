import type { AccessRecord } from './access-record.js';
import { validateBatch } from './batch-validation.js';
import { RecordQueue } from './record-queue.js';

/** Takes up to `max` records as one batch and reads it back as the master does (hosts come back lower-cased). */
export function drainRecords(q: RecordQueue, max: number, slave = 's'): AccessRecord[] {
  const taken = q.take(max, Number.MAX_SAFE_INTEGER, `"batchId":"test-1","slave":${JSON.stringify(slave)}`);
  return taken ? validateBatch(JSON.parse(taken.json.toString('utf8')), slave, Number.MAX_SAFE_INTEGER).records : [];
}

/** Bytes a queue holds for this one record: its row and the comma before it. */
export function rowBytes(r: AccessRecord): number {
  const q = new RecordQueue();
  q.push(r);
  return q.bytes;
}
