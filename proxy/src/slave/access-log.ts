/**
 * The optional access log on stdout, in Squid's native format (so existing log tooling keeps
 * working) or as JSON lines. Lines are batched per event-loop turn into one write; if stdout
 * cannot keep up, lines are dropped and counted rather than buffered without bound.
 */
import type { Writable } from 'node:stream';
import type { AccessRecord } from '../reports/access-record.js';

export type AccessLogFormat = 'squid' | 'json' | 'off';

/** What the log shows beyond the access record. */
export interface LogExtras {
  /** Upstream address dialled, if any. */
  peer?: string;
  mimeType?: string;
}

const MAX_PENDING_BYTES = 4 * 1024 * 1024;

function squidCode(r: AccessRecord): string {
  if (r.action !== 'allow') return 'TCP_DENIED';
  if (r.method === 'CONNECT') return 'TCP_TUNNEL';
  return r.status >= 500 && r.status !== 503 ? 'TCP_MISS_ABORTED' : 'TCP_MISS';
}

export function formatSquidLine(r: AccessRecord, extras: LogExtras): string {
  const ts = (r.time / 1000).toFixed(3);
  const elapsed = String(r.durationMs).padStart(6);
  const hier = extras.peer ? `HIER_DIRECT/${extras.peer}` : 'HIER_NONE/-';
  const user = r.user ? encodeURIComponent(r.user) : '-';
  return `${ts} ${elapsed} ${r.client} ${squidCode(r)}/${String(r.status).padStart(3, '0')} ${r.bytesDown} ${r.method} ${r.url} ${user} ${hier} ${extras.mimeType || '-'}`;
}

export class AccessLog {
  private lines: string[] = [];
  private scheduled = false;
  dropped = 0;

  constructor(
    private readonly format: Exclude<AccessLogFormat, 'off'>,
    private readonly out: Writable = process.stdout,
  ) {}

  write(record: AccessRecord, extras: LogExtras): void {
    if (this.out.writableLength > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.lines.push(
      this.format === 'squid'
        ? formatSquidLine(record, extras)
        : JSON.stringify({ ...record, peer: extras.peer, mimeType: extras.mimeType }),
    );
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    this.out.write(text);
  };
}
