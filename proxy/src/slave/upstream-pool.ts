/**
 * Raw keep-alive connections to upstreams for the fast path, pooled per checked address and port
 * (so a pooled socket always goes where the SSRF guard said). Every socket carries one fixed set of
 * shared listeners that forward its events to the exchange owning it now; idle sockets are owned
 * by the pool, which closes them on any event and after a short keep-alive time.
 *
 * Per request no timer is touched: a socket has a timeout only while it connects (an exchange in
 * flight is timed by its client connection's idle timer, which `onUpstreamTimeout` answers), and
 * the keep-alive limit of idle sockets is enforced by one sweep timer per pool. Reads
 * use `onread` buffers instead of a Buffer and a stream event per read (see read-buffers.ts).
 */
import net, { type Socket } from 'node:net';
import { ReadBuffers, SHARED_READ_BUFFER } from './read-buffers.js';

/**
 * What an exchange using an upstream socket hears from it. `chunk` of `onUpstreamData` is valid
 * only until the call returns when `shared`; otherwise it stays valid unless the owner writes it
 * somewhere that keeps it (a write still queued), which it then reports with `UpstreamPool.taken`.
 */
export interface UpstreamOwner {
  onUpstreamData(chunk: Buffer, shared: boolean): void;
  onUpstreamEnd(): void;
  onUpstreamClose(err: (Error & { code?: string }) | undefined): void;
  onUpstreamTimeout(): void;
  onUpstreamDrain(): void;
}

const kOwner = Symbol('safesquid.upstreamOwner');
const kKey = Symbol('safesquid.poolKey');
const kError = Symbol('safesquid.upstreamError');
const kReads = Symbol('safesquid.upstreamReads');
const kIdleSince = Symbol('safesquid.idleSince');
type PooledSocket = Socket & {
  [kOwner]: UpstreamOwner | undefined;
  [kKey]: string;
  [kError]?: Error;
  [kReads]: ReadBuffers;
  /** When it went on its key's idle list; 0 while it is on none (in use, or taken off). */
  [kIdleSince]: number;
  pool: UpstreamPool;
};

function onRead(this: PooledSocket, n: number, buf: Uint8Array): void {
  const reads = this[kReads];
  reads.last = n;
  const owner = this[kOwner];
  if (owner) owner.onUpstreamData((buf as Buffer).subarray(0, n), buf === SHARED_READ_BUFFER);
  else this.destroy();
}

/** Connected: from now on the exchange using the socket is timed by its client's idle timer. */
function onConnect(this: PooledSocket): void {
  this.setTimeout(0);
}

function onEnd(this: PooledSocket): void {
  const owner = this[kOwner];
  if (owner) owner.onUpstreamEnd();
  else this.destroy();
}

function onError(this: PooledSocket, err: Error): void {
  this[kError] = err;
}

function onClose(this: PooledSocket): void {
  this.pool.forget(this);
  const owner = this[kOwner];
  this[kOwner] = undefined;
  owner?.onUpstreamClose(this[kError]);
}

function onTimeout(this: PooledSocket): void {
  const owner = this[kOwner];
  if (owner) owner.onUpstreamTimeout();
  else this.destroy();
}

function onDrain(this: PooledSocket): void {
  this[kOwner]?.onUpstreamDrain();
}

export class UpstreamPool {
  /** Idle sockets per `address|port`, oldest first. */
  private readonly idle = new Map<string, PooledSocket[]>();
  private readonly all = new Set<Socket>();
  private sweeper: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly connectTimeoutMs: number,
    private readonly keepAliveMs = 4_000,
  ) {}

  /** A socket to `address:port` for `owner`: a pooled idle one if there is one (`reused`), else a new connection. */
  acquire(address: string, port: number, owner: UpstreamOwner): { socket: Socket; reused: boolean } {
    const key = `${address}|${port}`;
    const free = this.idle.get(key);
    const pooled = free?.pop();
    if (pooled) {
      if (free!.length === 0) this.idle.delete(key);
      pooled[kIdleSince] = 0;
      pooled[kOwner] = owner;
      return { socket: pooled, reused: true };
    }
    const reads = new ReadBuffers();
    const s = net.connect({
      host: address,
      port,
      noDelay: true,
      onread: { buffer: reads.next, callback: onRead as net.OnReadOpts['callback'] },
    }) as PooledSocket;
    s[kOwner] = owner;
    s[kKey] = key;
    s[kReads] = reads;
    s[kIdleSince] = 0;
    s.pool = this;
    s.setTimeout(this.connectTimeoutMs);
    s.once('connect', onConnect);
    s.on('end', onEnd);
    s.on('error', onError);
    s.on('close', onClose);
    s.on('timeout', onTimeout);
    s.on('drain', onDrain);
    this.all.add(s);
    return { socket: s, reused: false };
  }

  /** Returns a socket whose exchange ended cleanly, ready for the next request. */
  release(socket: Socket): void {
    const s = socket as PooledSocket;
    s[kOwner] = undefined;
    if (s.destroyed || !s.writable) {
      s.destroy();
      return;
    }
    s.resume();
    s[kIdleSince] = performance.now();
    const list = this.idle.get(s[kKey]);
    if (list) list.push(s);
    else this.idle.set(s[kKey], [s]);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(100, this.keepAliveMs / 4)).unref();
  }

  /** The owner wrote the chunk it was given somewhere that still holds it: the next read needs other memory. */
  taken(socket: Socket): void {
    (socket as PooledSocket)[kReads].taken = true;
  }

  /** Closes sockets idle for longer than the keep-alive time. */
  private sweep(): void {
    const oldest = performance.now() - this.keepAliveMs;
    for (const [key, list] of this.idle) {
      // Oldest first: the expired ones are a prefix, taken off in one splice (a burst can leave
      // thousands), and off the list before `forget` would look for them at their close event.
      let n = 0;
      while (n < list.length && list[n][kIdleSince] <= oldest) n++;
      for (const s of list.splice(0, n)) {
        s[kIdleSince] = 0;
        s.destroy();
      }
      if (list.length === 0) this.idle.delete(key);
    }
    if (this.idle.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Closes a socket whose exchange failed or whose framing is suspect; its events reach no one. */
  discard(socket: Socket): void {
    (socket as PooledSocket)[kOwner] = undefined;
    socket.destroy();
  }

  forget(socket: Socket): void {
    this.all.delete(socket);
    const s = socket as PooledSocket;
    // A socket in use is on no list: no scan of the idle ones per closed connection.
    if (s[kIdleSince] === 0) return;
    s[kIdleSince] = 0;
    const list = this.idle.get(s[kKey]);
    if (!list) return;
    const i = list.indexOf(s);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(s[kKey]);
  }

  destroy(): void {
    for (const s of this.all) s.destroy();
    this.idle.clear();
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
