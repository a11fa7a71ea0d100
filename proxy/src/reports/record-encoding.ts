/**
 * An access record as the JSON text of the batch wire format (`{"time":...,"slave":...}`), built
 * at record time so that nothing per request outlives the request on the V8 heap: the queue keeps
 * bytes, and a batch body is assembled from them instead of stringifying thousands of objects.
 */
import type { AccessRecord } from './access-record.js';

/** What the proxy knows of a request when it ends; the slave's name and the duration come with it. */
export type RecordSource = Omit<AccessRecord, 'slave' | 'durationMs'>;

/** Characters a JSON string may carry as they are: printable ASCII except `"` and `\`. */
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

/**
 * JSON.stringify only when a string needs it (quotes, backslashes, control characters). A lone
 * surrogate becomes U+FFFD first: it has no UTF-8 form, and the master refuses a whole batch
 * for one (PostgreSQL could not store it).
 */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify((s as WellFormable).toWellFormed()) : `"${s}"`;
}

/** ES2024, in Node 20; the project's lib is ES2023. */
type WellFormable = string & { toWellFormed(): string };

/**
 * Remembers the last string it quoted: consecutive requests mostly share the slave, policy hash,
 * client, method, host, rule and action, so most fields cost one comparison.
 */
class LastQuoted {
  private key: string | undefined = undefined;
  private quoted = '';

  get(s: string): string {
    if (s !== this.key) {
      this.quoted = jsonString(s);
      this.key = s;
    }
    return this.quoted;
  }
}

/** A count as JSON: a non-negative integer; anything else (a bug upstream) as 0 rather than a batch the master must refuse. */
function count(n: number): number {
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export class RecordEncoder {
  private readonly slave = new LastQuoted();
  private readonly client = new LastQuoted();
  private readonly method = new LastQuoted();
  private readonly host = new LastQuoted();
  private readonly action = new LastQuoted();
  private readonly user = new LastQuoted();
  private readonly rule = new LastQuoted();
  private readonly category = new LastQuoted();
  private readonly policyHash = new LastQuoted();
  private lastTime = Number.NaN;
  private lastTimeText = '';

  /** The record's JSON text, with a leading comma: records are stored as the separators of a JSON array expect them. */
  encode(r: RecordSource, slave: string, durationMs: number): string {
    if (r.time !== this.lastTime) {
      this.lastTime = r.time;
      this.lastTimeText = String(count(r.time));
    }
    let s =
      ',{"time":' + this.lastTimeText +
      ',"slave":' + this.slave.get(slave) +
      ',"client":' + this.client.get(r.client) +
      ',"method":' + this.method.get(r.method) +
      ',"host":' + this.host.get(r.host) +
      ',"url":' + jsonString(r.url) +
      ',"status":' + count(r.status) +
      ',"bytesUp":' + count(r.bytesUp) +
      ',"bytesDown":' + count(r.bytesDown) +
      ',"durationMs":' + count(durationMs) +
      ',"action":' + this.action.get(r.action);
    if (r.user !== undefined) s += ',"user":' + this.user.get(r.user);
    if (r.rule !== undefined) s += ',"rule":' + this.rule.get(r.rule);
    if (r.category !== undefined) s += ',"category":' + this.category.get(r.category);
    if (r.policyHash !== undefined) s += ',"policyHash":' + this.policyHash.get(r.policyHash);
    return s + '}';
  }
}
