/**
 * Raw byte relay between two connected sockets (CONNECT tunnels, upgraded connections): back-pressure
 * both ways, a FIN from one side passed on as a half-close, an error or idle timeout closing both.
 *
 * Idle tunnels are the proxy's biggest population, so the relay allocates no closures: the
 * handlers are shared functions that find the other socket through a symbol property.
 */
import type { Socket } from 'node:net';

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
