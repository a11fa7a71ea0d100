/**
 * The slave's one HTTP client to its master: the base URL, the private CA (`--master-ca`), the
 * cluster token and the slave's name header, in one place for every slave → master request
 * (policy long-polls, sync events, report batches, statistics). Built on undici, whose pool keeps
 * the connection alive between requests; each user gets its own pool (`connections`), so a
 * long-poll held open for 30 s never queues a report batch behind it.
 */
import { Agent, type Dispatcher } from 'undici';

export interface MasterClientOptions {
  /** The master's base URL, e.g. `https://master:8888`. */
  masterUrl: string;
  /** The cluster token (`Authorization: Bearer`); a function lets a rotated Secret take effect. */
  token: string | (() => string);
  /** Sent as `X-SafeSquid-Slave` on every request. */
  slaveName: string;
  /** PEM certificates trusted for an https:// master (a private CA) instead of the system's. */
  ca?: string;
  /** Most connections to the master at once; default: as many as needed. */
  connections?: number;
}

export interface MasterAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** The first `maxBodyBytes` of the answer, as UTF-8. */
  text: string;
}

export interface MasterRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Longest wait for the answer's headers, then between body chunks. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Answer bytes kept; the rest is read and discarded. Default 4096; Infinity for a policy bundle. */
  maxBodyBytes?: number;
}

export class MasterClient {
  /** `https://master:8888`, without a trailing slash. */
  readonly base: string;
  readonly origin: string;
  readonly dispatcher: Dispatcher;
  private readonly basePath: string;

  constructor(private readonly opts: MasterClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.masterUrl);
    } catch {
      throw new Error(`master URL "${opts.masterUrl}" is not a URL: give e.g. http://master:8888`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`master URL must be http(s), got "${opts.masterUrl}"`);
    }
    this.base = opts.masterUrl.replace(/\/+$/, '');
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.dispatcher = new Agent({
      ...(opts.connections ? { connections: opts.connections } : {}),
      ...(opts.ca ? { connect: { ca: opts.ca } } : {}),
    });
  }

  get slaveName(): string {
    return this.opts.slaveName;
  }

  /** Authorization and the slave's name: what the master's slave guard and registry read. */
  identity(): Record<string, string> {
    const token = typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token;
    return { authorization: `Bearer ${token}`, 'x-safesquid-slave': this.opts.slaveName };
  }

  /** Sends one request to `<base><path>`; rejects only when no answer came (network, timeout, abort). */
  async request(path: string, r: MasterRequest): Promise<MasterAnswer> {
    const res = await this.dispatcher.request({
      origin: this.origin,
      path: `${this.basePath}${path}`,
      method: r.method ?? 'GET',
      headers: { ...this.identity(), ...r.headers },
      body: r.body,
      signal: r.signal,
      headersTimeout: r.timeoutMs,
      bodyTimeout: r.timeoutMs,
    });
    const limit = r.maxBodyBytes ?? 4096;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      if (size < limit) chunks.push(c);
      size += c.length;
    }
    const text = Buffer.concat(chunks);
    return {
      status: res.statusCode,
      headers: res.headers,
      text: (size > limit ? text.subarray(0, limit) : text).toString('utf8'),
    };
  }

  close(): Promise<void> {
    return this.dispatcher.destroy();
  }
}

/** `connect ECONNREFUSED 127.0.0.1:8888` rather than just `fetch failed` or `other side closed`. */
export function describeNetError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; cause?: { message?: unknown } } | null;
  if (!e || typeof e.message !== 'string') return String(err);
  return typeof e.cause?.message === 'string' ? `${e.message}: ${e.cause.message}` : e.message;
}

/** One value of a header from a MasterAnswer (the first, when repeated). */
export function headerValue(answer: MasterAnswer, name: string): string | undefined {
  const v = answer.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
