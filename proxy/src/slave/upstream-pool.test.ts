import net, { type AddressInfo, type Socket } from 'node:net';
import { UpstreamPool, type UpstreamOwner } from './upstream-pool.js';

/** An owner that collects what its upstream socket says. */
class Owner implements UpstreamOwner {
  readonly chunks: Array<{ text: string; shared: boolean }> = [];
  closed = false;
  onUpstreamData(chunk: Buffer, shared: boolean): void {
    this.chunks.push({ text: chunk.toString('latin1'), shared });
  }
  onUpstreamEnd(): void {}
  onUpstreamClose(): void {
    this.closed = true;
  }
  onUpstreamTimeout(): void {}
  onUpstreamDrain(): void {}
}

const until = async (ok: () => boolean, what: string, ms = 3000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('UpstreamPool', () => {
  let server: net.Server;
  let port: number;
  const accepted: Socket[] = [];
  const closedAt: number[] = [];

  beforeAll(async () => {
    // Echoes every read back, so a test controls what the pooled socket reads.
    server = net.createServer((s) => {
      accepted.push(s);
      s.on('data', (d) => s.write(d));
      s.on('close', () => closedAt.push(Date.now()));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('reuses a released socket and closes it once idle past the keep-alive time', async () => {
    const pool = new UpstreamPool(2000, 300);
    try {
      const first = new Owner();
      const a = pool.acquire('127.0.0.1', port, first);
      expect(a.reused).toBe(false);
      a.socket.write('ping');
      await until(() => first.chunks.length > 0, 'the echo');
      expect(first.chunks[0]).toEqual({ text: 'ping', shared: true });
      pool.release(a.socket);

      const second = new Owner();
      const b = pool.acquire('127.0.0.1', port, second);
      expect(b.reused).toBe(true);
      expect(b.socket).toBe(a.socket);
      b.socket.write('pong');
      await until(() => second.chunks.length > 0, 'the second echo');
      expect(second.chunks[0].text).toBe('pong');
      expect(first.chunks).toHaveLength(1);
      const releasedAt = Date.now();
      const closedBefore = closedAt.length;
      pool.release(b.socket);
      await until(() => closedAt.length > closedBefore, 'the idle socket to close');
      const idleMs = closedAt[closedAt.length - 1] - releasedAt;
      expect(idleMs).toBeGreaterThanOrEqual(250);
      expect(idleMs).toBeLessThan(1500);
      // A closed socket is not handed out again.
      const third = new Owner();
      expect(pool.acquire('127.0.0.1', port, third).reused).toBe(false);
    } finally {
      pool.destroy();
    }
  });

  it("reads large transfers into the socket's own buffer, and replaces it when the owner keeps one", async () => {
    const pool = new UpstreamPool(2000, 300);
    try {
      const owner = new Owner();
      const { socket } = pool.acquire('127.0.0.1', port, owner);
      const kept: Buffer[] = [];
      owner.onUpstreamData = (chunk, shared) => {
        owner.chunks.push({ text: '', shared });
        if (!shared) {
          kept.push(chunk);
          pool.taken(socket);
        }
      };
      const big = Buffer.alloc(4 * 1024 * 1024, 'abcdefgh');
      socket.write(big);
      await until(() => owner.chunks.reduce((n, c) => n + (c.shared ? 0 : 1), 0) >= 3, 'private reads', 5000);
      // Every private read kept by the owner landed in memory no later read reused.
      const bases = new Set(kept.map((b) => b.buffer));
      expect(bases.size).toBe(kept.length);
      for (const b of kept) expect(b.toString('latin1', 0, 8)).toMatch(/^[a-h]{8}$/);
    } finally {
      pool.destroy();
    }
  });

  it('closes a burst of idle sockets in one sweep and forgets one the upstream closed', async () => {
    const pool = new UpstreamPool(2000, 300);
    try {
      const acquired = Array.from({ length: 50 }, () => pool.acquire('127.0.0.1', port, new Owner()).socket);
      await until(() => acquired.every((s) => !s.connecting), 'the connections');
      const closedBefore = closedAt.length;
      for (const s of acquired) pool.release(s);
      await until(() => closedAt.length >= closedBefore + 50, 'all 50 idle sockets to close');
      expect(acquired.every((s) => s.destroyed)).toBe(true);

      // An idle socket its upstream closes leaves the idle list at once: it is never handed out.
      const acceptedBefore = accepted.length;
      const a = pool.acquire('127.0.0.1', port, new Owner());
      await until(() => !a.socket.connecting && accepted.length > acceptedBefore, 'the connection');
      const serverSide = accepted[acceptedBefore];
      pool.release(a.socket);
      serverSide.end();
      await until(() => a.socket.destroyed, 'the pooled socket to close');
      expect(pool.acquire('127.0.0.1', port, new Owner()).reused).toBe(false);
    } finally {
      pool.destroy();
    }
  });
});
