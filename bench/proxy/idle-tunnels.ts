import { connect, type Socket } from 'node:net';

export interface TunnelsResult {
  requested: number;
  opened: number;
  /** Answers other than 200, by status line, and connection errors. */
  failures: Map<string, number>;
  sockets: Socket[];
}

/** Opens `count` CONNECT tunnels to `targetPort` through the proxy, `batch` at a time, and leaves them idle. */
export async function openIdleTunnels(
  proxyPort: number,
  targetPort: number,
  count: number,
  batch = 250,
): Promise<TunnelsResult> {
  const result: TunnelsResult = { requested: count, opened: 0, failures: new Map(), sockets: [] };
  const fail = (why: string) => result.failures.set(why, (result.failures.get(why) ?? 0) + 1);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    await Promise.all(
      Array.from({ length: n }, () =>
        openTunnel(proxyPort, targetPort).then(
          (socket) => {
            result.opened++;
            result.sockets.push(socket);
          },
          (err: Error) => fail(err.message),
        ),
      ),
    );
  }
  return result;
}

export function closeTunnels(sockets: Socket[]): void {
  for (const s of sockets) s.destroy();
  sockets.length = 0;
}

function openTunnel(proxyPort: number, targetPort: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: proxyPort });
    let head = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer to CONNECT within 10 s'));
    }, 10_000);
    socket.setNoDelay(true);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`connection error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    socket.on('data', function onData(chunk: Buffer) {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      const statusLine = head.slice(0, head.indexOf('\r\n'));
      if (/^HTTP\/1\.[01] 200/.test(statusLine)) {
        socket.on('error', () => undefined);
        resolve(socket);
      } else {
        socket.destroy();
        reject(new Error(statusLine.slice(0, 60)));
      }
    });
    socket.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n\r\n`);
  });
}
