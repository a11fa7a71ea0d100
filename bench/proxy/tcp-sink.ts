/**
 * The far end of the idle tunnels: accepts TCP connections and holds them. It runs as its own
 * process because the 10 000 sockets it holds would not fit beside the bench's own under the
 * file-descriptor limit.
 */
import { createServer } from 'node:net';

const sockets = new Set<import('node:net').Socket>();
const server = createServer((socket) => {
  sockets.add(socket);
  socket.on('error', () => undefined);
  socket.on('close', () => sockets.delete(socket));
  socket.resume();
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as import('node:net').AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
