import { Agent, request, type RequestOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { KubeConnection } from './kubeconfig.js';
import { KubeApiError } from '../errors.js';
export { KubeApiError };

/** A JSON Kubernetes object as the API returns it; typed loosely, the controller reads what it needs. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
  managedFields?: unknown[];
  [key: string]: unknown;
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.status === 409;
export const isGone = (err: unknown) => err instanceof KubeApiError && err.status === 410;

export interface RequestParams {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Accept header; e.g. `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` for names and labels only. */
  accept?: string;
  timeoutMs?: number;
}

/** Counts of what this client sent, by verb class: the no-op test and the bench read `writes`. */
export interface RequestCounts {
  reads: number;
  writes: number;
  watches: number;
}

export type RequestObserver = (method: string, path: string, status: number) => void;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const WATCH_IDLE_MS = 7 * 60_000;
/** Requests in flight at once (watches not counted): 8 reconciles of ~11 parallel applies fit in 2-3 rounds. */
const REQUEST_SOCKETS = 32;
const LEASES_API = '/apis/coordination.k8s.io/';

function queryString(q: RequestParams['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * A small JSON client for the Kubernetes API (connection from kubeconfig.ts: kubeconfig files,
 * in-cluster service-account tokens and their rotation). Raw JSON in and out, so a custom resource
 * keeps every field the generated model classes would not know, and each request is counted: the
 * operator must be able to prove that an unchanged cluster costs no writes.
 */
export class KubeClient {
  readonly server: URL;
  readonly counts: RequestCounts = { reads: 0, writes: 0, watches: 0 };
  private readonly agent: Agent | HttpAgent;
  /** Watches hold their connection for minutes: on a pool of their own they never take the sockets requests need. */
  private readonly watchAgent: Agent | HttpAgent;
  /** Leases (leader election) never queue behind a burst of applies: a late renewal loses leadership. */
  private readonly leaseAgent: Agent | HttpAgent;
  private observers: RequestObserver[] = [];

  constructor(readonly connection: KubeConnection) {
    this.server = new URL(connection.server);
    // HTTP/1.1 keep-alive: a reconcile's applies reuse warm TLS connections. Up to REQUEST_SOCKETS
    // requests are in flight at once; more wait in the agent, which keeps them in order.
    const agent = (maxSockets: number) =>
      this.server.protocol === 'https:'
        ? new Agent({ keepAlive: true, maxSockets, ...connection.tls })
        : new HttpAgent({ keepAlive: true, maxSockets });
    this.agent = agent(REQUEST_SOCKETS);
    this.watchAgent = agent(Infinity);
    this.leaseAgent = agent(2);
  }

  /** Sockets open to the API server now: [requests in flight or idle, watches]. */
  get sockets(): { requests: number; idle: number; watches: number } {
    const count = (r: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(r).reduce((n, l) => n + (l?.length ?? 0), 0);
    return {
      requests: count(this.agent.sockets),
      idle: count(this.agent.freeSockets),
      watches: count(this.watchAgent.sockets),
    };
  }

  /** Called after every answered request (metrics). */
  observe(fn: RequestObserver): void {
    this.observers.push(fn);
  }

  private async options(
    method: string,
    path: string,
    headers: Record<string, string>,
    timeoutMs: number | undefined,
    agent = this.agent,
  ): Promise<RequestOptions> {
    const base = this.server.pathname.replace(/\/$/, '');
    return {
      method,
      headers: { accept: 'application/json', ...(await this.connection.headers()), ...headers },
      agent,
      hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
      port: this.server.port || (this.server.protocol === 'https:' ? 443 : 80),
      path: base + path,
      timeout: timeoutMs,
    };
  }

  private send(o: RequestOptions) {
    return this.server.protocol === 'https:' ? request(o) : httpRequest(o);
  }

  /** One request; resolves with the parsed JSON body of a 2xx answer, throws `KubeApiError` otherwise. */
  async request<T = KubeObject>(method: string, path: string, p: RequestParams = {}): Promise<T> {
    const full = path + queryString(p.query);
    const payload = p.body === undefined ? undefined : typeof p.body === 'string' ? p.body : JSON.stringify(p.body);
    const headers: Record<string, string> = {};
    if (p.accept) headers.accept = p.accept;
    if (payload !== undefined) {
      headers['content-type'] = p.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const opts = await this.options(
      method,
      full,
      headers,
      p.timeoutMs ?? 30_000,
      path.startsWith(LEASES_API) ? this.leaseAgent : this.agent,
    );
    if (WRITE_METHODS.has(method) && !p.query?.dryRun) this.counts.writes++;
    else this.counts.reads++;
    return new Promise<T>((resolve, reject) => {
      const req = this.send(opts);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          for (const o of this.observers) o(method, path, status);
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          if (status >= 200 && status < 300) return resolve(json as T);
          const st = (json ?? {}) as { reason?: string; message?: string };
          reject(new KubeApiError(method, full, status, st.reason ?? 'Unknown', st.message ?? text.slice(0, 500)));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${full}: no answer in ${opts.timeout} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * A watch: calls `onEvent` for every event line until the server ends the stream (resolves), the
   * signal aborts it (resolves) or the connection fails (rejects). An ERROR event with a Status
   * rejects with a `KubeApiError` carrying its code (410 when the resourceVersion is too old).
   */
  async watch(
    path: string,
    query: RequestParams['query'],
    onEvent: (type: string, obj: KubeObject) => void,
    signal: AbortSignal,
    accept?: string,
  ): Promise<void> {
    const full = path + queryString({ ...query, watch: true });
    // Bookmarks and the server's own timeoutSeconds keep a live watch talking: a connection silent for
    // this long is dead (a NAT or load balancer dropped it) and is given up so the watch restarts.
    const opts = await this.options('GET', full, accept ? { accept } : {}, WATCH_IDLE_MS, this.watchAgent);
    this.counts.watches++;
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = this.send(opts);
      const onAbort = () => {
        req.destroy();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error) => {
        signal.removeEventListener('abort', onAbort);
        if (err && !signal.aborted) reject(err);
        else resolve();
      };
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let st: { reason?: string; message?: string } = {};
            try {
              st = JSON.parse(text);
            } catch {
              /* not JSON */
            }
            done(new KubeApiError('WATCH', full, status, st.reason ?? 'Unknown', st.message ?? text.slice(0, 500)));
          });
          return;
        }
        let partial = '';
        let failed: Error | undefined;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop()!;
          for (const line of lines) {
            if (!line.trim() || failed) continue;
            let ev: { type: string; object: KubeObject };
            try {
              ev = JSON.parse(line);
            } catch (err) {
              failed = new Error(`watch ${full}: unreadable event: ${(err as Error).message}`);
              req.destroy();
              return;
            }
            if (ev.type === 'ERROR') {
              const st = ev.object as { code?: number; reason?: string; message?: string };
              failed = new KubeApiError('WATCH', full, st.code ?? 500, st.reason ?? 'Unknown', st.message ?? '');
              req.destroy();
              return;
            }
            onEvent(ev.type, ev.object);
          }
        });
        res.on('end', () => done(failed));
        res.on('close', () => done(failed));
        res.on('error', (err) => done(failed ?? err));
      });
      req.on('timeout', () => req.destroy(new Error(`watch ${full}: nothing received for ${WATCH_IDLE_MS / 1000} s`)));
      req.on('error', (err) => done(err));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
    this.leaseAgent.destroy();
  }
}
