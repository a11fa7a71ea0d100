import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from './client.js';

// A loopback HTTP server standing in for the API server's socket behaviour only: requests to
// /api/v1/... are held until released, the rest answered at once.
let server: Server;
let held: ServerResponse[] = [];
let client: KubeClient;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/api/v1/')) {
      held.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Lease', metadata: { name: 'x' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  client = new KubeClient({ server: `http://127.0.0.1:${port}`, tls: {}, headers: async () => ({}), source: 'test' });
});

afterAll(async () => {
  client.close();
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const answer = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
};

const until = async (what: string, check: () => boolean) => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

it('keeps a Lease request out of the queue of a burst of requests', async () => {
  // 40 requests: 32 on sockets, 8 waiting in the agent.
  const burst = Array.from({ length: 40 }, (_, i) => client.request('GET', `/api/v1/namespaces/n/secrets/s${i}`));
  await until('32 requests held by the server', () => held.length === 32);
  expect(client.sockets.requests).toBe(32);
  const lease = await client.request('GET', '/apis/coordination.k8s.io/v1/namespaces/n/leases/x');
  expect(lease.kind).toBe('Lease');
  // Release the burst; the 8 queued ones get sockets in turn.
  let done = false;
  const all = Promise.all(burst).then((r) => ((done = true), r));
  while (!done) {
    const batch = held;
    held = [];
    batch.forEach(answer);
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(await all).toHaveLength(40);
});
