import { createConnection } from 'node:net';
import type { ChildHandle } from './child-process.js';

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Resolves once 127.0.0.1:`port` accepts a TCP connection. For programs that say nothing when
 * they are ready; fails at once, with the end of its output, if `child` exits first.
 */
export async function waitForPort(port: number, child: ChildHandle, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running())
      throw new Error(
        `${child.what} exited with ${child.exitDescription()} before listening on 127.0.0.1:${port}:\n${child.outputTail()}`,
      );
    if (await accepts(port)) return;
    if (Date.now() > end)
      throw new Error(
        `${child.what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s:\n${child.outputTail()}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}
