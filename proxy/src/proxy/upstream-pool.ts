/**
 * Raw keep-alive connections to upstreams for the fast path, pooled per checked address and port
 * (so a pooled socket always goes where the SSRF guard said). Every socket carries one fixed set of
 * shared listeners that forward its events to the exchange owning it now; idle sockets are owned
 * by the pool, which closes them on any event and after a short keep-alive time.
 */
import net, { type Socket } from 'node:net';

/** What an exchange using an upstream socket hears from it. */
export interface UpstreamOwner {
  onUpstreamData(chunk: Buffer): void;
  onUpstreamEnd(): void;
  onUpstreamClose(err: (Error & { code?: string }) | undefined): void;
  onUpstreamTimeout(): void;
  onUpstreamDrain(): void;
}

const kOwner = Symbol('safesquid.upstreamOwner');
const kKey = Symbol('safesquid.poolKey');
const kError = Symbol('safesquid.upstreamError');
type PooledSocket = Socket & { [kOwner]: UpstreamOwner | undefined; [kKey]: string; [kError]?: Error; pool: UpstreamPool };

function onData(this: PooledSocket, chunk: Buffer): void {
  const owner = this[kOwner];
  if (owner) owner.onUpstreamData(chunk);
  else this.destroy();
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
  private readonly idle = new Map<string, PooledSocket[]>();
  private readonly all = new Set<Socket>();

  constructor(
    private readonly connectTimeoutMs: number,
    private readonly idleTimeoutMs: number,
    private readonly keepAliveMs = 4_000,
  ) {}

  /** A socket to `address:port` for `owner`: a pooled idle one if there is one (`reused`), else a new connection. */
  acquire(address: string, port: number, owner: UpstreamOwner): { socket: Socket; reused: boolean } {
    const key = `${address}|${port}`;
    const free = this.idle.get(key);
    const pooled = free?.pop();
    if (pooled) {
      if (free!.length === 0) this.idle.delete(key);
      pooled[kOwner] = owner;
      pooled.setTimeout(this.idleTimeoutMs);
      return { socket: pooled, reused: true };
    }
    const s = net.connect({ host: address, port, noDelay: true }) as PooledSocket;
    s[kOwner] = owner;
    s[kKey] = key;
    s.pool = this;
    s.setTimeout(this.connectTimeoutMs);
    s.once('connect', () => s.setTimeout(this.idleTimeoutMs));
    s.on('data', onData);
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
    s.setTimeout(this.keepAliveMs);
    const list = this.idle.get(s[kKey]);
    if (list) list.push(s);
    else this.idle.set(s[kKey], [s]);
  }

  /** Closes a socket whose exchange failed or whose framing is suspect; its events reach no one. */
  discard(socket: Socket): void {
    (socket as PooledSocket)[kOwner] = undefined;
    socket.destroy();
  }

  forget(socket: Socket): void {
    this.all.delete(socket);
    const s = socket as PooledSocket;
    const list = this.idle.get(s[kKey]);
    if (!list) return;
    const i = list.indexOf(s);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(s[kKey]);
  }

  destroy(): void {
    for (const s of this.all) s.destroy();
    this.idle.clear();
  }
}
