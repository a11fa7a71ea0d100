import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';

export interface KubeResponse {
  status: number;
  body: string;
}

export interface ClientCredentials {
  caCert: string;
  adminCert: string;
  adminKey: string;
}

/** Minimal HTTPS client for the launcher's own readiness checks and node registration. */
export class KubeHttp {
  private readonly ca: Buffer;
  private readonly cert: Buffer;
  private readonly key: Buffer;

  constructor(
    readonly server: string,
    creds: ClientCredentials,
  ) {
    this.ca = readFileSync(creds.caCert);
    this.cert = readFileSync(creds.adminCert);
    this.key = readFileSync(creds.adminKey);
  }

  send(method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<KubeResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.server),
        {
          method,
          ca: this.ca,
          cert: this.cert,
          key: this.key,
          timeout: timeoutMs,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${this.server}${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/**
 * GET without client credentials: etcd's plain-HTTP /health and the /healthz of controller-manager and
 * scheduler, which serve a self-signed certificate they make at start. A loopback liveness probe, not a
 * trust decision, hence no certificate check.
 */
export function probe(url: string, timeoutMs = 2000): Promise<KubeResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
