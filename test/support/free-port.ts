import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for programs that take a port number, not a
 * listening socket. Prefer binding port 0 and reading the port back where possible.
 *
 * Ports come from below the kernel's ephemeral range (32768-60999 here), in a block of their own
 * per Jest worker: the kernel never hands these to a `listen(0)` or to an outgoing connection, and
 * two workers never pick the same one, so a program given one does not find it taken at start-up.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < BLOCK_SIZE; tried++) {
    const port = BLOCK_START + (next++ % BLOCK_SIZE);
    if (await isFree(port)) return port;
  }
  throw new Error(`free-port: no free port in 127.0.0.1:${BLOCK_START}-${BLOCK_START + BLOCK_SIZE - 1}`);
}

const FIRST = 10_000;
const BLOCK_SIZE = 1000;
const BLOCKS = 22; // 10000-31999, below the ephemeral range
// Jest workers are numbered 1..n; a process outside Jest (a benchmark) takes a block by its PID.
const slot = Number(process.env.JEST_WORKER_ID ?? 0) || process.pid % BLOCKS;
const BLOCK_START = FIRST + (slot % BLOCKS) * BLOCK_SIZE;
let next = 0;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
