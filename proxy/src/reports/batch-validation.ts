/**
 * Validates a decoded report batch field by field. The master stores nothing from a batch
 * with one bad record: the slave gets the first bad record's index and field, drops that record
 * and sends the rest again (the shipper), so the fault is named and no good record goes with it.
 *
 * Two forms of a batch's records, both accepted (a master is upgraded before or after its slaves):
 * - `rows` with `columns` and `policyHashes`, what slaves send: each record an array of values in
 *   the order `columns` names them, the slave being the batch's and the policy hash a key of
 *   `policyHashes`. About half the bytes of objects to gzip, send and parse.
 * - `records`: one object per record (AccessRecord), for tools and older slaves.
 */
import type { AccessRecord } from './access-record.js';
import type { ReportBatch } from './query-types.js';
import { BatchValidationError } from '../errors.js';
export { BatchValidationError };

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

// Year 2000 .. 2200: anything else is a clock or encoding bug, not a request.
const TIME_MIN = 946_684_800_000;
const TIME_MAX = 7_258_118_400_000;
/** What is wrong with one field's value (undefined: nothing); optional fields are checked only when present. */
export const FIELD_CHECKS = {
  time: count(TIME_MIN, TIME_MAX),
  slave: text(MAX_SHORT),
  client: text(MAX_SHORT),
  method: text(32),
  host: text(MAX_SHORT),
  url: text(MAX_TEXT),
  status: count(0, 999),
  bytesUp: count(0, Number.MAX_SAFE_INTEGER),
  bytesDown: count(0, Number.MAX_SAFE_INTEGER),
  durationMs: count(0, Number.MAX_SAFE_INTEGER),
  action: ((v) =>
    typeof v === 'string' && ACTIONS.has(v) ? undefined : `expected allow|deny|redirect, got ${describe(v)}`) as Check,
  user: text(MAX_SHORT),
  rule: text(MAX_SHORT),
  category: text(MAX_SHORT),
  policyHash: text(128),
} satisfies Record<keyof AccessRecord, Check>;

// The checks above, as plain predicates: a 10 000-record batch runs them 150 000 times, and
// the messages are only needed for the one field that fails.
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isCount = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isOptionalText = (v: unknown, max: number): v is string | undefined | null =>
  v === undefined || v === null || isText(v, max);

function refuse(at: string, index: number, key: keyof AccessRecord, value: unknown): never {
  throw new BatchValidationError(`${at}.${key}: ${FIELD_CHECKS[key](value)}`, key, index);
}

function refuseSlave(at: string, index: number, recordSlave: unknown, slave: string): never {
  throw new BatchValidationError(
    `${at}.slave: "${String(recordSlave)}" does not match the batch's slave "${slave}"`,
    'slave',
    index,
  );
}

/**
 * Returns the record with only known fields (unknown ones are ignored, for forward compatibility)
 * and its host in lower case; throws naming the first bad field in AccessRecord order.
 */
export function validateRecord(v: unknown, index: number, slave: string): AccessRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    const at = `records[${index}]`;
    throw new BatchValidationError(`${at}: expected an object, got ${describe(v)}`, at, index);
  }
  return checkedRecord(v as Fields, 'records', index, slave);
}

type Fields = Partial<Record<keyof AccessRecord, unknown>>;

function checkedRecord(o: Fields, list: string, index: number, slave: string): AccessRecord {
  const { time, slave: recordSlave, client, method, host, url, status, bytesUp, bytesDown, durationMs, action } = o;
  const { user, rule, category, policyHash } = o;
  if (
    !isCount(time, TIME_MIN, TIME_MAX) ||
    !isText(recordSlave, MAX_SHORT) ||
    !isText(client, MAX_SHORT) ||
    !isText(method, 32) ||
    !isText(host, MAX_SHORT) ||
    !isText(url, MAX_TEXT) ||
    !isCount(status, 0, 999) ||
    !isCount(bytesUp, 0, Number.MAX_SAFE_INTEGER) ||
    !isCount(bytesDown, 0, Number.MAX_SAFE_INTEGER) ||
    !isCount(durationMs, 0, Number.MAX_SAFE_INTEGER) ||
    (action !== 'allow' && action !== 'deny' && action !== 'redirect') ||
    !isOptionalText(user, MAX_SHORT) ||
    !isOptionalText(rule, MAX_SHORT) ||
    !isOptionalText(category, MAX_SHORT) ||
    !isOptionalText(policyHash, 128)
  ) {
    const at = `${list}[${index}]`;
    for (const key of REQUIRED_KEYS) if (FIELD_CHECKS[key](o[key])) refuse(at, index, key, o[key]);
    if (recordSlave !== slave) refuseSlave(at, index, recordSlave, slave);
    for (const key of OPTIONAL_KEYS)
      if (o[key] !== undefined && o[key] !== null && FIELD_CHECKS[key](o[key])) refuse(at, index, key, o[key]);
  }
  if (recordSlave !== slave) refuseSlave(`${list}[${index}]`, index, recordSlave, slave);
  const out: AccessRecord = {
    time: time as number,
    slave,
    client: client as string,
    method: method as string,
    host: (host as string).toLowerCase(),
    url: url as string,
    status: status as number,
    bytesUp: bytesUp as number,
    bytesDown: bytesDown as number,
    durationMs: durationMs as number,
    action: action as AccessRecord['action'],
  };
  if (user !== undefined && user !== null) out.user = user as string;
  if (rule !== undefined && rule !== null) out.rule = rule as string;
  if (category !== undefined && category !== null) out.category = category as string;
  if (policyHash !== undefined && policyHash !== null) out.policyHash = policyHash as string;
  return out;
}

const REQUIRED_KEYS = [
  'time',
  'slave',
  'client',
  'method',
  'host',
  'url',
  'status',
  'bytesUp',
  'bytesDown',
  'durationMs',
  'action',
] as const satisfies readonly (keyof AccessRecord)[];
const OPTIONAL_KEYS = ['user', 'rule', 'category', 'policyHash'] as const satisfies readonly (keyof AccessRecord)[];

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
    throw new BatchValidationError(
      `slave: "${slave}" does not match the X-SafeSquid-Slave header "${headerSlave}"`,
      'slave',
    );
  }
  if (b.rows !== undefined && b.records !== undefined) {
    throw new BatchValidationError('batch: has both "rows" and "records"; send one of them', 'batch');
  }
  const list = b.rows !== undefined ? 'rows' : 'records';
  const items = b[list];
  if (!Array.isArray(items)) throw new BatchValidationError(`${list}: expected an array, got ${describe(items)}`, list);
  if (items.length > maxRecords) {
    throw new BatchValidationError(`${list}: ${items.length} records, at most ${maxRecords} per batch`, list);
  }
  const records = list === 'rows' ? rowRecords(b, items, slave) : items.map((r, i) => validateRecord(r, i, slave));
  return { batchId: b.batchId, slave, records };
}

const ROW_KEYS = new Set<string>([...REQUIRED_KEYS, ...OPTIONAL_KEYS].filter((k) => k !== 'slave'));

/** Where each known column sits in a row (-1: absent, which only optional columns may be). */
function columnIndexes(columns: unknown): Record<Exclude<keyof AccessRecord, 'slave'>, number> & { count: number } {
  if (!Array.isArray(columns) || columns.length === 0 || columns.length > 64) {
    throw new BatchValidationError(
      `columns: expected an array of 1-64 column names, got ${describe(columns)}`,
      'columns',
    );
  }
  const at = new Map<string, number>();
  columns.forEach((c, i) => {
    if (typeof c !== 'string')
      throw new BatchValidationError(`columns[${i}]: expected a column name, got ${describe(c)}`, 'columns');
    if (at.has(c)) throw new BatchValidationError(`columns[${i}]: "${c}" is named twice`, 'columns');
    // Unknown columns are skipped, for forward compatibility.
    if (ROW_KEYS.has(c)) at.set(c, i);
  });
  for (const key of REQUIRED_KEYS) {
    if (key !== 'slave' && !at.has(key))
      throw new BatchValidationError(
        `columns: "${key}" is missing; rows need ${REQUIRED_KEYS.filter((k) => k !== 'slave').join(', ')}`,
        'columns',
      );
  }
  const index = (key: string) => at.get(key) ?? -1;
  return {
    count: columns.length,
    time: index('time'),
    client: index('client'),
    method: index('method'),
    host: index('host'),
    url: index('url'),
    status: index('status'),
    bytesUp: index('bytesUp'),
    bytesDown: index('bytesDown'),
    durationMs: index('durationMs'),
    action: index('action'),
    user: index('user'),
    rule: index('rule'),
    category: index('category'),
    policyHash: index('policyHash'),
  };
}

function policyHashKeys(v: unknown): Map<number, string> {
  const keys = new Map<number, string>();
  if (v === undefined) return keys;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new BatchValidationError(`policyHashes: expected an object of key: hash, got ${describe(v)}`, 'policyHashes');
  }
  for (const [key, hash] of Object.entries(v)) {
    const problem = FIELD_CHECKS.policyHash(hash);
    if (problem) throw new BatchValidationError(`policyHashes["${key}"]: ${problem}`, 'policyHashes');
    keys.set(Number(key), hash as string);
  }
  return keys;
}

function rowRecords(b: Record<string, unknown>, rows: unknown[], slave: string): AccessRecord[] {
  const col = columnIndexes(b.columns);
  const hashes = policyHashKeys(b.policyHashes);
  const get = (row: unknown[], i: number) => (i < 0 ? undefined : row[i]);
  // One object refilled per row: the checks read it as they read a record object.
  const fields: Fields = { slave };
  return rows.map((row, index) => {
    if (!Array.isArray(row) || row.length !== col.count) {
      throw new BatchValidationError(
        `rows[${index}]: expected an array of ${col.count} values (one per column), got ${describe(row)}${Array.isArray(row) ? ` of ${row.length}` : ''}`,
        `rows[${index}]`,
        index,
      );
    }
    fields.time = row[col.time];
    fields.client = row[col.client];
    fields.method = row[col.method];
    fields.host = row[col.host];
    fields.url = row[col.url];
    fields.status = row[col.status];
    fields.bytesUp = row[col.bytesUp];
    fields.bytesDown = row[col.bytesDown];
    fields.durationMs = row[col.durationMs];
    fields.action = row[col.action];
    fields.user = get(row, col.user);
    fields.rule = get(row, col.rule);
    fields.category = get(row, col.category);
    const key = get(row, col.policyHash);
    if (key === undefined || key === null) fields.policyHash = undefined;
    else if (typeof key === 'number' && hashes.has(key)) fields.policyHash = hashes.get(key);
    else
      throw new BatchValidationError(
        `rows[${index}].policyHash: ${describe(key)} is not a key of the batch's policyHashes`,
        'policyHash',
        index,
      );
    return checkedRecord(fields, 'rows', index, slave);
  });
}

export function isValidBatchId(id: string): boolean {
  return BATCH_ID.test(id);
}
