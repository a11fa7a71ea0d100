import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { adoptReadBuffer, splice, tunnelReadOptions } from './socket-splice.js';

const MiB = 1024 * 1024;
// Tearing a tunnel down resets whichever end still had bytes in flight; that is not under test.
const ignore = (): void => undefined;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

interface Tunnel {
  client: Socket;
  /** The upstream's end of the tunnel. */
  origin: Promise<Socket>;
  close(): Promise<void>;
}

/** client ⇄ (proxy side: accepted socket ⇄ dialled socket, spliced as the slave does) ⇄ origin. */
async function openTunnel(): Promise<Tunnel> {
  let originSocket!: (s: Socket) => void;
  const origin = new Promise<Socket>((r) => (originSocket = r));
  const originServer = net.createServer({ allowHalfOpen: true }, (s) => originSocket(s.on('error', ignore)));
  const proxyServer = net.createServer({ allowHalfOpen: true }, (accepted) => {
    const onread = tunnelReadOptions();
    const dialled = net.connect({ host: '127.0.0.1', port: originPort, allowHalfOpen: true, onread });
    adoptReadBuffer(dialled, onread);
    dialled.once('error', () => accepted.destroy());
    dialled.once('connect', () => splice(accepted, dialled, 30_000));
  });
  const originPort = await listen(originServer);
  const proxyPort = await listen(proxyServer);
  const client = net.connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true }).on('error', ignore);
  return {
    client,
    origin,
    close: async () => {
      client.destroy();
      (await origin).destroy();
      await Promise.all([originServer, proxyServer].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function collect(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

describe('splice', () => {
  it('delivers every byte in order while the client stalls and the origin trickles mid-sized reads', async () => {
    // A burst moves the dialled socket to its private read buffer; then 8 KiB pieces, each read at
    // once by the proxy, are written to a client that reads nothing for a while: writes of a size
    // below the high-water mark stay queued while reading goes on. If a queued write's buffer were
    // read into again, the client would get later bytes in its place.
    const t = await openTunnel();
    try {
      const payload = randomBytes(24 * MiB);
      t.client.pause();
      const received = collect(t.client);
      const origin = await t.origin;
      const stall = setTimeout(() => t.client.resume(), 300);
      const deadline = Date.now() + 20_000;
      origin.write(payload.subarray(0, MiB));
      for (let off = MiB; off < payload.length && Date.now() < deadline; off += 8192) {
        if (!origin.write(payload.subarray(off, off + 8192))) await new Promise((r) => origin.once('drain', r));
        await nextTurn();
      }
      origin.end();
      const got = await received;
      clearTimeout(stall);
      expect(got.length).toBe(payload.length);
      expect(sha256(got)).toBe(sha256(payload));
    } finally {
      await t.close();
    }
  }, 30_000);

  it('passes a half-close on both ways and keeps the other direction open', async () => {
    const t = await openTunnel();
    try {
      const origin = await t.origin;
      const fromOrigin = collect(t.client);
      const fromClient = collect(origin);
      t.client.end('request');
      expect((await fromClient).toString()).toBe('request');
      // The client has finished sending; the origin can still answer.
      origin.end('response after the client half-closed');
      expect((await fromOrigin).toString()).toBe('response after the client half-closed');
    } finally {
      await t.close();
    }
  });
});
