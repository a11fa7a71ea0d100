/**
 * Validates a decoded report batch field by field. The master stores nothing from a batch
 * with one bad record: the slave gets the first bad record's index and field so the fault
 * can be found, and the batch is set aside on the slave rather than retried forever.
 */
import type { AccessRecord } from './access-record.js';
import type { ReportBatch } from './query-types.js';

export class BatchValidationError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'BatchValidationError';
  }
}

/** Batch ids double as spool file names on the slave, so keep them path-safe. */
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
const MAX_TEXT = 8192;
const MAX_SHORT = 512;
const ACTIONS = new Set(['allow', 'deny', 'redirect']);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

type Check = (v: unknown) => string | undefined;

const text =
  (max: number): Check =>
  (v) => {
    if (typeof v !== 'string') return `expected a string, got ${describe(v)}`;
    if (v.length === 0) return 'must not be empty';
    if (v.length > max) return `longer than ${max} characters`;
    return undefined;
  };

const count =
  (min: number, max: number): Check =>
  (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `expected an integer, got ${describe(v)}`;
    if (v < min || v > max) return `expected ${min}..${max}, got ${v}`;
    return undefined;
  };

const required: Record<keyof AccessRecord, Check | undefined> = {
  // Year 2000 .. 2200: anything else is a clock or encoding bug, not a request.
  time: count(946_684_800_000, 7_258_118_400_000),
  slave: text(MAX_SHORT),
  client: text(MAX_SHORT),
  method: text(32),
  host: text(MAX_SHORT),
  url: text(MAX_TEXT),
  status: count(0, 999),
  bytesUp: count(0, Number.MAX_SAFE_INTEGER),
  bytesDown: count(0, Number.MAX_SAFE_INTEGER),
  durationMs: count(0, Number.MAX_SAFE_INTEGER),
  action: (v) => (typeof v === 'string' && ACTIONS.has(v) ? undefined : `expected allow|deny|redirect, got ${describe(v)}`),
  user: undefined,
  rule: undefined,
  category: undefined,
  policyHash: undefined,
};
const optional: Partial<Record<keyof AccessRecord, Check>> = {
  user: text(MAX_SHORT),
  rule: text(MAX_SHORT),
  category: text(MAX_SHORT),
  policyHash: text(128),
};
const requiredKeys = (Object.keys(required) as (keyof AccessRecord)[]).filter((k) => required[k]);
const optionalKeys = Object.keys(optional) as (keyof AccessRecord)[];

/** Returns the record with only known fields (unknown ones are ignored, for forward compatibility). */
export function validateRecord(v: unknown, index: number, slave: string): AccessRecord {
  const at = `records[${index}]`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new BatchValidationError(`${at}: expected an object, got ${describe(v)}`, at, index);
  }
  const o = v as Record<string, unknown>;
  for (const key of requiredKeys) {
    const problem = required[key]!(o[key]);
    if (problem) throw new BatchValidationError(`${at}.${key}: ${problem}`, key, index);
  }
  if (o.slave !== slave) {
    throw new BatchValidationError(`${at}.slave: "${String(o.slave)}" does not match the batch's slave "${slave}"`, 'slave', index);
  }
  const out: AccessRecord = {
    time: o.time as number,
    slave,
    client: o.client as string,
    method: o.method as string,
    host: (o.host as string).toLowerCase(),
    url: o.url as string,
    status: o.status as number,
    bytesUp: o.bytesUp as number,
    bytesDown: o.bytesDown as number,
    durationMs: o.durationMs as number,
    action: o.action as AccessRecord['action'],
  };
  for (const key of optionalKeys) {
    const value = o[key];
    if (value === undefined || value === null) continue;
    const problem = optional[key]!(value);
    if (problem) throw new BatchValidationError(`${at}.${key}: ${problem}`, key, index);
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}

/**
 * `headerSlave` is the slave name the request carried (X-SafeSquid-Slave); the body must agree,
 * so one slave cannot file records under another's name by accident.
 */
export function validateBatch(body: unknown, headerSlave: string | undefined, maxRecords: number): ReportBatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BatchValidationError(`batch: expected a JSON object, got ${describe(body)}`, 'batch');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.batchId !== 'string' || !BATCH_ID.test(b.batchId)) {
    throw new BatchValidationError(
      `batchId: expected 1-200 characters of [A-Za-z0-9._:-] starting with a letter or digit, got ${describe(b.batchId)}`,
      'batchId',
    );
  }
  const slaveProblem = text(MAX_SHORT)(b.slave);
  if (slaveProblem) throw new BatchValidationError(`slave: ${slaveProblem}`, 'slave');
  const slave = b.slave as string;
  if (headerSlave !== undefined && headerSlave !== slave) {
    throw new BatchValidationError(`slave: "${slave}" does not match the X-SafeSquid-Slave header "${headerSlave}"`, 'slave');
  }
  if (!Array.isArray(b.records)) throw new BatchValidationError(`records: expected an array, got ${describe(b.records)}`, 'records');
  if (b.records.length > maxRecords) {
    throw new BatchValidationError(`records: ${b.records.length} records, at most ${maxRecords} per batch`, 'records');
  }
  const records = b.records.map((r, i) => validateRecord(r, i, slave));
  return { batchId: b.batchId, slave, records };
}

export function isValidBatchId(id: string): boolean {
  return BATCH_ID.test(id);
}
