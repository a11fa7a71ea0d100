/**
 * What the proxy learns about one request or tunnel on its way through, and the access record
 * it becomes at the end. One small fixed-shape object per request; nothing else is allocated for
 * bookkeeping.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AccessRecord } from '../reports/access-record.js';

export type RecordAction = AccessRecord['action'];

export class Exchange {
  readonly time = Date.now();
  readonly started = performance.now();
  user: string | undefined = undefined;
  host = '';
  url = '';
  status = 0;
  action: RecordAction = 'allow';
  rule: string | undefined = undefined;
  category: string | undefined = undefined;
  policyHash: string | undefined = undefined;
  peer: string | undefined = undefined;
  mimeType: string | undefined = undefined;
  bytesUp = 0;
  bytesDown = 0;
  /** Cancels the upstream exchange in flight, if any. */
  abortUpstream: (() => void) | undefined = undefined;

  constructor(
    readonly method: string,
    readonly client: string,
  ) {}

  /** Seconds since the request arrived. */
  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** The access record as an object, for the access log (the report queue encodes the exchange itself). */
  toRecord(slave: string, durationMs: number): AccessRecord {
    const r: AccessRecord = {
      time: this.time,
      slave,
      client: this.client,
      method: this.method,
      host: this.host,
      url: this.url,
      status: this.status,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      durationMs,
      action: this.action,
    };
    if (this.user !== undefined) r.user = this.user;
    if (this.rule !== undefined) r.rule = this.rule;
    if (this.category !== undefined) r.category = this.category;
    if (this.policyHash !== undefined) r.policyHash = this.policyHash;
    return r;
  }
}

const kCounted = Symbol('safesquid.bytesCounted');
type CountedSocket = Socket & { [kCounted]?: { read: number; written: number } };

/**
 * Bytes a keep-alive connection carried since the previous call: the request's share of the
 * socket's counters, headers included, without listening to every chunk.
 */
export function socketDelta(socket: Socket): { read: number; written: number } {
  const s = socket as CountedSocket;
  const last = s[kCounted] ?? { read: 0, written: 0 };
  const read = s.bytesRead - last.read;
  const written = s.bytesWritten - last.written;
  last.read = s.bytesRead;
  last.written = s.bytesWritten;
  s[kCounted] = last;
  return { read, written };
}

const kClient = Symbol('safesquid.client');
type IdentifiedSocket = Socket & { [kClient]?: string };

/**
 * Reads and keeps the peer's address while the connection is open: Node reports none once the
 * socket has closed, and records written after that must still name the client. Undefined when
 * the peer is already gone (it reset the connection before it was accepted).
 * `::ffff:10.0.0.1` (dual-stack sockets) → `10.0.0.1`.
 */
export function identifyClient(socket: Socket): string | undefined {
  const a = socket.remoteAddress;
  if (a === undefined) return undefined;
  const client = a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
  (socket as IdentifiedSocket)[kClient] = client;
  return client;
}

/** The client a trusted load balancer named in its PROXY protocol header: who the connection is from. */
export function setProxiedClient(socket: Socket, address: string): void {
  (socket as IdentifiedSocket)[kClient] = address;
}

/** Who the connection is from, as identified when it was accepted (or named by a PROXY header). */
export function clientAddress(socket: Socket): string {
  return (socket as IdentifiedSocket)[kClient] ?? identifyClient(socket) ?? '';
}
