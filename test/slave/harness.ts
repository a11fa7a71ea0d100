/**
 * Shared pieces of the slave's end-to-end tests (the slave itself starts with
 * test/support/slave-process.ts): real upstream servers on 127.0.0.1 that record what reached them, and raw-socket clients for
 * requests that well-behaved client libraries refuse to send.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface Upstream {
  server: http.Server;
  port: number;
  seen: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

const echo: UpstreamHandler = (req, res, body) => {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: body.length });
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(text);
};

/**
 * An HTTP server on 127.0.0.1 that records every request (after reading its body). A handler
 * that wants to stream sets `stream` and gets the request before its body is read.
 */
export async function startUpstream(
  handler: UpstreamHandler = echo,
  opts: { stream?: boolean; server?: http.Server } = {},
): Promise<Upstream> {
  const server = opts.server ?? http.createServer();
  const seen: SeenRequest[] = [];
  let connections = 0;
  server.on('connection', () => connections++);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry: SeenRequest = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
    };
    seen.push(entry);
    if (opts.stream) {
      handler(req, res, entry.body);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      handler(req, res, entry.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

export interface RawResponse {
  status: number;
  head: string;
  /** The body as it came on the wire (still chunk-encoded if it was). */
  body: string;
  /** The body with chunked transfer coding removed. */
  content: string;
  raw: string;
}

function dechunk(body: string): string {
  let out = '';
  let pos = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', pos);
    if (eol === -1) return out;
    const size = parseInt(body.slice(pos, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    pos = eol + 2 + size + 2;
  }
}

/** Writes `text` to the proxy on a fresh socket and reads the answer until the proxy closes or `timeoutMs`. */
export function rawRequest(port: number, text: string | Buffer, timeoutMs = 3000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const head = split === -1 ? raw : raw.slice(0, split);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m) return reject(new Error(`no HTTP response, got ${JSON.stringify(raw.slice(0, 200))}`));
      const body = split === -1 ? '' : raw.slice(split + 4);
      const content = /\r\ntransfer-encoding: *chunked/i.test(head) ? dechunk(body) : body;
      resolve({ status: Number(m[1]), head, body, content, raw });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', finish);
    socket.on('error', finish);
    socket.write(text);
  });
}

export interface ProxiedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request through the proxy with node:http (absolute-form request target). */
export function viaProxy(
  proxyPort: number,
  url: string,
  opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<ProxiedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        method: opts.method ?? 'GET',
        path: url,
        headers: opts.headers,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes a policy file; `spec` is the body of a PolicySet `spec` in YAML. */
export function writePolicy(path: string, name: string, spec: string): void {
  const indented = spec
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  writeFileSync(
    path,
    `apiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nmetadata: {name: ${name}}\nspec:\n${indented}\n`,
  );
}

export async function metricsText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}
