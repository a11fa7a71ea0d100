import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. The binaries take a port number, not a
 * listening socket, so there is a short window in which another process could take it; callers
 * detect that through the process exiting at start-up.
 */
export function freePort(): Promise<number> {
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
