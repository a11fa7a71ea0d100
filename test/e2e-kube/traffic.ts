/**
 * Traffic from the host to the gateway on the real node: upstream servers (HTTP and HTTPS) on the
 * node's address, which pods reach over the bridge, and a client that sends requests and CONNECTs
 * through a slave (the `<name>-proxy` Service's cluster IP or one slave pod's IP) with the sample
 * users' Basic credentials.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { createCa, issueCert, LEAF_EXTENSIONS } from '../support/test-pki.js';

/** The user of deploy/samples/proxy-users-secret.yaml (its password is "change-me"). */
export const SAMPLE_USER = { name: 'alice', password: 'change-me' };
const PROXY_AUTH = `Basic ${Buffer.from(`${SAMPLE_USER.name}:${SAMPLE_USER.password}`).toString('base64')}`;

export interface Upstreams {
  httpPort: number;
  httpsPort: number;
  /** PEM of the CA that signed the HTTPS server's certificate (for the node's IP). */
  ca: string;
  hits: number;
  close(): Promise<void>;
}

/** An HTTP and an HTTPS origin on `ip` answering 200 "ok <path>" to everything. */
export async function startUpstreams(ip: string, dir: string): Promise<Upstreams> {
  mkdirSync(dir, { recursive: true });
  const ca = await createCa(join(dir, 'ca'));
  const cert = await issueCert(dir, ca, 'upstream', '/CN=upstream', [
    ...LEAF_EXTENSIONS,
    'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:${ip}`,
  ]);
  const u = { httpPort: 0, httpsPort: 0, ca: readFileSync(ca.cert, 'utf8'), hits: 0, close: async () => {} };
  const handler: http.RequestListener = (req, res) => {
    u.hits++;
    const body = `ok ${req.url}`;
    // A length, not chunks: the CONNECT check reads the tunnelled response raw.
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body);
  };
  const plain = http.createServer(handler);
  const secure = https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, handler);
  await Promise.all([plain, secure].map((s) => new Promise<void>((r) => s.listen(0, ip, r))));
  u.httpPort = (plain.address() as AddressInfo).port;
  u.httpsPort = (secure.address() as AddressInfo).port;
  u.close = async () => {
    await Promise.all(
      [plain, secure].map(
        (s) =>
          new Promise<void>((r) => {
            s.close(() => r());
            s.closeAllConnections();
          }),
      ),
    );
  };
  return u;
}

export interface ProxyReply {
  status: number;
  /** The slave that answered (from its `Via: 1.1 NAME (safesquid)`), or '' without a Via. */
  slave: string;
  body: string;
}

/** The slave's name from a Via header of a SafeSquid slave. */
export function slaveFromVia(via: string | undefined): string {
  return /1\.1 (\S+) \(safesquid\)/.exec(via ?? '')?.[1] ?? '';
}

/** GET `url` through the proxy at `proxyHost:proxyPort` on a new connection (so the Service balances each). */
export function proxyGet(proxyHost: string, proxyPort: number, url: string, timeoutMs = 5000): Promise<ProxyReply> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: proxyHost,
        port: proxyPort,
        path: url,
        agent: false,
        headers: { host: target.host, 'proxy-authorization': PROXY_AUTH, connection: 'close' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            slave: slaveFromVia(res.headers.via),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`GET ${url} via ${proxyHost}:${proxyPort}: no answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}

export interface ConnectReply {
  status: number;
  slave: string;
  /** For an established tunnel: what a GET over TLS through it answered. */
  tunnelled?: { status: number; body: string };
  body: string;
}

/**
 * CONNECT `authority` through the proxy; when it is established, a TLS GET of `/path` through the
 * tunnel checked against `ca` (the HTTPS upstream's), so "allowed" means bytes really went through.
 */
export function proxyConnect(
  proxyHost: string,
  proxyPort: number,
  authority: string,
  ca: string,
  path = '/',
  timeoutMs = 5000,
): Promise<ConnectReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxyHost,
      port: proxyPort,
      method: 'CONNECT',
      path: authority,
      agent: false,
      headers: { host: authority, 'proxy-authorization': PROXY_AUTH },
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`CONNECT ${authority} via ${proxyHost}:${proxyPort}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      const slave = slaveFromVia(res.headers.via);
      if (status !== 200) {
        // A refusal carries its explanation as a body after the head.
        const chunks: Buffer[] = [head];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', () => {
          clearTimeout(timer);
          resolve({ status, slave, body: Buffer.concat(chunks).toString('utf8') });
        });
        socket.on('error', () => undefined);
        return;
      }
      const host = authority.replace(/:\d+$/, '');
      const secure = tls.connect({ socket, ca, host, servername: /^[\d.]+$/.test(host) ? undefined : host }, () => {
        secure.end(`GET ${path} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
      });
      const chunks: Buffer[] = [];
      secure.on('data', (c: Buffer) => chunks.push(c));
      secure.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      secure.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        resolve({
          status,
          slave,
          body: '',
          tunnelled: { status: m ? Number(m[1]) : 0, body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n') },
        });
      });
    });
    req.end();
  });
}

/** Percentile (nearest rank) of numbers. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface TrafficTally {
  /** Answered requests by the slave that answered, and by status. */
  acknowledged: Map<string, { requests: number; blocked: number }>;
  sent: number;
  failures: string[];
}

/**
 * A bounded stream of requests through the proxy, one after another (at most `maxRequests`, for at
 * most `maxMs`, one every `intervalMs`), every tenth to a denied URL; stop() ends it and returns what
 * each slave acknowledged and what failed.
 */
export function steadyTraffic(
  proxyHost: string,
  proxyPort: number,
  allowedUrl: (i: number) => string,
  deniedUrl: (i: number) => string,
  o: { maxRequests: number; maxMs: number; intervalMs: number },
): { stop(): Promise<TrafficTally> } {
  const tally: TrafficTally = { acknowledged: new Map(), sent: 0, failures: [] };
  let stopping = false;
  const deadline = Date.now() + o.maxMs;
  const loop = (async () => {
    for (let i = 0; i < o.maxRequests && !stopping && Date.now() < deadline; i++) {
      const denied = i % 10 === 9;
      const url = denied ? deniedUrl(i) : allowedUrl(i);
      tally.sent++;
      try {
        const r = await proxyGet(proxyHost, proxyPort, url);
        const expected = denied ? 403 : 200;
        if (r.status !== expected)
          tally.failures.push(`${url}: ${r.status} from ${r.slave || '?'} (${r.body.slice(0, 120)})`);
        if (r.status === 200 || r.status === 403) {
          const c = tally.acknowledged.get(r.slave) ?? { requests: 0, blocked: 0 };
          c.requests++;
          if (r.status === 403) c.blocked++;
          tally.acknowledged.set(r.slave, c);
        }
      } catch (err) {
        tally.failures.push(`${url}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return tally;
    },
  };
}
