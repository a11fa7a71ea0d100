import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. For programs that take a port number, not a
 * listening socket: another process could take it in between, so callers detect that through the
 * program exiting at start-up. Prefer binding port 0 and reading the port back where possible.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await unusedPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Ports handed out by this process: the kernel may give a just-closed one again at the next call. */
const handedOut = new Set<number>();

function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('free-port: listen on 127.0.0.1:0 returned no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
