/**
 * An access record as one row of the batch wire format (`"columns":[...],"rows":[[...],...]`),
 * written as UTF-8 JSON bytes straight into the queue's buffer when the request ends: no
 * string is built per record, and nothing per request outlives the request on the V8 heap.
 * The slave's name is the batch's, and the policy hash a small number keyed in the batch's
 * `policyHashes`, so neither is repeated in every row.
 */
import type { AccessRecord } from './access-record.js';

/** What the proxy knows of a request when it ends; the duration comes with it, the slave is the batch's. */
export type RecordSource = Omit<AccessRecord, 'slave' | 'durationMs'>;

/** The order of the values in a row. The master reads rows by these names (batch `columns`), not by position. */
export const ROW_COLUMNS = [
  'time',
  'client',
  'method',
  'host',
  'url',
  'status',
  'bytesUp',
  'bytesDown',
  'durationMs',
  'action',
  'user',
  'rule',
  'category',
  'policyHash',
] as const satisfies readonly Exclude<keyof AccessRecord, 'slave'>[];

/** Bytes a row takes at most besides its strings: 5 counts of ≤16 digits, the time, the hash key, nulls and separators. */
const ROW_FIXED_BYTES = 160;
/** A UTF-16 unit takes at most 6 bytes in JSON (`\u001f`); non-ASCII takes at most 3 in UTF-8. */
const BYTES_PER_UNIT = 6;

/** ES2024, in Node 20; the project's lib is ES2023. */
export type WellFormable = string & { toWellFormed(): string };

const QUOTE = 0x22;
const COMMA = 0x2c;
const NULL_BYTES = [0x6e, 0x75, 0x6c, 0x6c];

/** Most bytes a row of this record can take: the queue makes room for that much before writing. */
export function rowBound(r: RecordSource): number {
  return (
    ROW_FIXED_BYTES +
    BYTES_PER_UNIT *
      (r.client.length +
        r.method.length +
        r.host.length +
        r.url.length +
        r.action.length +
        (r.user?.length ?? 0) +
        (r.rule?.length ?? 0) +
        (r.category?.length ?? 0))
  );
}

// The writers below put a value at `at` after a comma, and return where it ends.

/**
 * A JSON string. Printable ASCII other than `"` and `\` is copied a byte per character; anything
 * else goes through JSON.stringify, with lone surrogates made U+FFFD first: they have no UTF-8
 * form, and the master refuses a whole batch for one.
 */
function writeString(buf: Buffer, at: number, s: string): number {
  buf[at] = COMMA;
  let p = at + 1;
  buf[p++] = QUOTE;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c)
      return at + 1 + buf.write(JSON.stringify((s as WellFormable).toWellFormed()), at + 1, 'utf8');
    buf[p++] = c;
  }
  buf[p++] = QUOTE;
  return p;
}

function writeOptionalString(buf: Buffer, at: number, s: string | undefined): number {
  if (s !== undefined) return writeString(buf, at, s);
  buf[at] = COMMA;
  for (let i = 0; i < 4; i++) buf[at + 1 + i] = NULL_BYTES[i];
  return at + 5;
}

function writeCount(buf: Buffer, at: number, n: number): number {
  buf[at] = COMMA;
  return writeDigits(buf, at + 1, n);
}

/** A count as JSON: a non-negative integer; anything else (a bug upstream) as 0 rather than a batch the master must refuse. */
function writeDigits(buf: Buffer, at: number, n: number): number {
  if (!(Number.isSafeInteger(n) && n > 0)) {
    buf[at] = 0x30;
    return at + 1;
  }
  let digits = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
  for (let p = at + digits - 1; p >= at; p--) {
    const q = Math.floor(n / 10);
    buf[p] = 0x30 + n - q * 10;
    n = q;
  }
  return at + digits;
}

export class RowEncoder {
  /** The digits of the last time written: consecutive requests mostly end in the same millisecond. */
  private readonly timeDigits = Buffer.alloc(16);
  private timeLength = 0;
  private lastTime = Number.NaN;

  /**
   * Writes the record's row at `at`, with a leading comma (rows are kept as the separators of a
   * JSON array expect them), and returns where it ends. `buf` must have rowBound(r) bytes free.
   * `hashKey`: the record's policy hash as its key in the batch's `policyHashes`, or -1 for none.
   */
  write(buf: Buffer, at: number, r: RecordSource, durationMs: number, hashKey: number): number {
    let p = at;
    buf[p++] = COMMA;
    buf[p++] = 0x5b;
    if (r.time !== this.lastTime) {
      this.lastTime = r.time;
      this.timeLength = writeDigits(this.timeDigits, 0, r.time);
    }
    for (let i = 0; i < this.timeLength; i++) buf[p++] = this.timeDigits[i];
    p = writeString(buf, p, r.client);
    p = writeString(buf, p, r.method);
    p = writeString(buf, p, r.host);
    p = writeString(buf, p, r.url);
    p = writeCount(buf, p, r.status);
    p = writeCount(buf, p, r.bytesUp);
    p = writeCount(buf, p, r.bytesDown);
    p = writeCount(buf, p, durationMs);
    p = writeString(buf, p, r.action);
    p = writeOptionalString(buf, p, r.user);
    p = writeOptionalString(buf, p, r.rule);
    p = writeOptionalString(buf, p, r.category);
    p = hashKey < 0 ? writeOptionalString(buf, p, undefined) : writeCount(buf, p, hashKey);
    buf[p++] = 0x5d;
    return p;
  }
}
