/**
 * Raw byte relay between two connected sockets (CONNECT tunnels, upgraded connections): back-pressure
 * both ways, a FIN from one side passed on as a half-close, an error or idle timeout closing both.
 *
 * Idle tunnels are the proxy's biggest population, so the relay allocates no closures: the
 * handlers are shared functions that find the other socket through a symbol property.
 */
import type { OnReadOpts, Socket } from 'node:net';
import { ReadBuffers, SHARED_READ_BUFFER } from './read-buffers.js';

const kPeer = Symbol('safesquid.peer');
type Peered = Socket & { [kPeer]: Socket };

function forwardData(this: Peered, chunk: Buffer): void {
  if (!this[kPeer].write(chunk)) this.pause();
}

function resumePeer(this: Peered): void {
  this[kPeer].resume();
}

function endPeer(this: Peered): void {
  this[kPeer].end();
}

function destroyBoth(this: Peered): void {
  this[kPeer].destroy();
  this.destroy();
}

function destroySelf(this: Socket): void {
  this.destroy();
}

function closePeer(this: Peered): void {
  const peer = this[kPeer];
  if (peer.destroyed) return;
  // Whatever is still queued for the peer is delivered before it is closed.
  if (peer.writableLength === 0) {
    peer.destroy();
  } else {
    peer.end();
    peer.once('finish', destroySelf);
  }
}

/**
 * Reads of a tunnel's upstream socket (the download direction, the heavy one) into reused buffers
 * (read-buffers.ts): a shared-buffer read is copied out at once; a private buffer is marked taken
 * while the write of it to the client is still queued.
 */
class TunnelReadBuffer extends ReadBuffers {
  /** Forwards `n` bytes of `buf` to `peer`; false: the peer is full, stop reading until it drains. */
  forward(peer: Socket, n: number, buf: Buffer): boolean {
    this.last = n;
    if (buf === SHARED_READ_BUFFER) return peer.write(Buffer.from(buf.subarray(0, n)));
    const ok = peer.write(buf.subarray(0, n));
    this.taken = peer.writableLength > 0;
    return ok;
  }
}

const kReadBuffer = Symbol('safesquid.readBuffer');
type Reading = Peered & { [kReadBuffer]: TunnelReadBuffer };

function forwardRead(this: Reading, n: number, buf: Uint8Array): boolean {
  return this[kReadBuffer].forward(this[kPeer], n, buf as Buffer);
}

/** `onread` options for a tunnel's upstream socket; pass the socket to `adoptReadBuffer` once created. */
export function tunnelReadOptions(): OnReadOpts & { state: TunnelReadBuffer } {
  const state = new TunnelReadBuffer();
  return { buffer: state.next, callback: forwardRead as OnReadOpts['callback'], state };
}

export function adoptReadBuffer(socket: Socket, opts: ReturnType<typeof tunnelReadOptions>): void {
  (socket as Reading)[kReadBuffer] = opts.state;
}

export function splice(client: Socket, upstream: Socket, idleTimeoutMs: number): void {
  (client as Peered)[kPeer] = upstream;
  (upstream as Peered)[kPeer] = client;
  for (const s of [client, upstream]) {
    s.on('data', forwardData);
    s.on('drain', resumePeer);
    s.on('end', endPeer);
    s.on('error', destroyBoth);
    s.on('close', closePeer);
  }
  // Traffic in either direction passes through the client socket: one idle timer covers both.
  upstream.setTimeout(0);
  client.setTimeout(idleTimeoutMs);
  client.on('timeout', destroyBoth);
}
