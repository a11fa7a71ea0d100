/**
 * The slave's forward proxy: absolute-form HTTP requests (upstream keep-alive pooling through
 * undici, streaming bodies, 100-continue, WebSocket upgrades) and CONNECT tunnels, each admitted
 * by policy, authentication and the SSRF guard before anything is dialled.
 *
 * Sockets are accepted by plain `net` listeners, so that the connection cap can answer a clear 503
 * instead of silently refusing, and several listen addresses share one proxy. Each connection
 * starts on the fast path (`fast-path.ts`: bodiless `http://` requests on raw sockets); whatever
 * that does not handle moves the connection to one `http.Server` for good.
 */
import http, { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Agent, Dispatcher } from 'undici';
import type { RecordQueue } from '../reports/record-queue.js';
import type { AccessLog } from './access-log.js';
import {
  admit,
  admitResponse,
  nextAddress,
  refusal,
  type Admission,
  type AdmissionDeps,
  type PolicySource,
  type Refusal,
} from './admission.js';
import type { ProxyAuthenticator } from './auth/index.js';
import { wantsHtml } from './block-page.js';
import type { CidrSet } from '../policy/cidr.js';
import { LogThrottle } from './log-throttle.js';
import { clientAddress, Exchange, identifyClient, setProxiedClient, socketDelta } from './exchange.js';
import { FastConnection, type FastPathHost } from './fast-path.js';
import { DROP_ON_REQUEST, IDEMPOTENT } from './forwarding-rules.js';
import { endToEndHeaders, rawHeaderCount, rawHeader } from './hop-headers.js';
import { parseProxyHeader } from './proxy-protocol.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import { MAX_HEADER_FIELDS } from './http-head.js';
import {
  isValidHostHeader,
  parseAbsoluteTarget,
  parseConnectTarget,
  TargetError,
  type Target,
} from './request-target.js';
import { adoptReadBuffer, splice, tunnelReadOptions } from './socket-splice.js';
import { MAX_REDIALS, SsrfGuard, type Endpoint, type Resolver } from './ssrf-guard.js';
import { UpstreamPool } from './upstream-pool.js';
import { refusalPage } from './refusal-page.js';
import { RequestContext, TunnelContext } from './request-context.js';
import { createUpstreamAgent, RelayHandler, upstreamFailure } from './upstream-relay.js';
import { UpstreamTimeout } from '../errors.js';

export interface ProxyServerOptions {
  /** Slave name: in `Via`, block pages and access records. */
  name: string;
  policy: PolicySource;
  /** Where access records go for the master; none without a master (nobody would drain it). */
  queue?: RecordQueue;
  metrics: ProxyMetrics;
  logger: Logger;
  authenticator?: ProxyAuthenticator;
  accessLog?: AccessLog;
  /** Open client connections (tunnels included) before new ones get a 503. */
  maxConnections?: number;
  maxTunnels?: number;
  /** Time a client has to send complete request headers. */
  headerTimeoutMs?: number;
  /** Inactivity after which a client connection, an upstream exchange or a tunnel is closed. */
  idleTimeoutMs?: number;
  maxHeaderBytes?: number;
  resolver?: Resolver;
  /** Other endpoints of this process (the metrics listener) the SSRF guard must never dial. */
  extraOwnEndpoints?: () => readonly Endpoint[];
  /**
   * Load balancers whose connections start with a PROXY protocol header (v1 or v2) naming the
   * client; they must send one. Connections from elsewhere are plain HTTP, as without the option.
   */
  proxyProtocolFrom?: CidrSet;
}

export const PROXY_DEFAULTS = {
  maxConnections: 20_000,
  maxTunnels: 16_000,
  headerTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  maxHeaderBytes: 32 * 1024,
};

const UPSTREAM_CONNECT_TIMEOUT_MS = 15_000;
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

function rawResponse(status: number, headers: readonly string[], body: string): string {
  let head = statusLine(status);
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function hasBody(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

function ignore(): void {}

/** On a client socket whose CONNECT opened a plain-HTTP tunnel: the tunnel's `host:port`. */
const kHttpTunnel = Symbol('safesquid.httpTunnel');
type TunnelSocket = Socket & { [kHttpTunnel]?: string };

/**
 * The absolute URL a request asks for. Inside a plain-HTTP tunnel (`CONNECT host:80`) requests come
 * in origin form (`GET /path`) and always go to the tunnel's destination, whatever their Host says.
 */
function requestUrl(req: IncomingMessage): string {
  const url = req.url ?? '';
  const tunnel = (req.socket as TunnelSocket)[kHttpTunnel];
  if (tunnel === undefined) return url;
  if (!url.startsWith('/'))
    throw new TargetError(
      `inside the tunnel to ${tunnel} requests must name a path (GET /path), not "${url.slice(0, 100)}"`,
    );
  return `http://${tunnel}${url}`;
}

/** More fields than the slave forwards (`MAX_HEADER_FIELDS`) in a flat name/value array. */
function tooManyFields(raw: readonly string[]): boolean {
  return raw.length > 2 * MAX_HEADER_FIELDS;
}

function tooManyRequestFields(): Refusal {
  return refusal(431, `the request has more than ${MAX_HEADER_FIELDS} header fields; it was not forwarded`);
}

function tooManyResponseFields(target: Target): Refusal {
  return refusal(
    502,
    `upstream ${target.authority} sent more than ${MAX_HEADER_FIELDS} header fields; the response was not forwarded`,
    'allow',
  );
}

export class ProxyServer {
  readonly http: http.Server;
  private readonly listeners: net.Server[] = [];
  private endpoints: Endpoint[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly guard: SsrfGuard;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly upstreamAgent: Agent;
  private readonly via: string;
  private readonly viaPseudonym: string;
  private readonly maxConnections: number;
  private readonly maxTunnels: number;
  private readonly idleTimeoutMs: number;
  private readonly deps: AdmissionDeps;
  private readonly fastHost: FastPathHost;
  private readonly fastConnections = new Set<FastConnection>();
  private readonly upstreamPool: UpstreamPool;
  private tunnels = 0;
  private closing = false;
  /** A balancer misconfigured to send no header would otherwise log every connection. */
  private readonly proxyProtocolLog = new LogThrottle();

  constructor(private readonly opts: ProxyServerOptions) {
    this.maxConnections = opts.maxConnections ?? PROXY_DEFAULTS.maxConnections;
    this.maxTunnels = opts.maxTunnels ?? PROXY_DEFAULTS.maxTunnels;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? PROXY_DEFAULTS.idleTimeoutMs;
    const headerTimeoutMs = opts.headerTimeoutMs ?? PROXY_DEFAULTS.headerTimeoutMs;
    this.viaPseudonym = `${opts.name} (safesquid)`;
    this.via = `1.1 ${this.viaPseudonym}`;
    this.guard = new SsrfGuard({
      ownEndpoints: () => [...this.addresses(), ...(opts.extraOwnEndpoints?.() ?? [])],
      resolver: opts.resolver,
    });
    this.deps = { policy: opts.policy, authenticator: opts.authenticator, guard: this.guard, metrics: opts.metrics };
    // One socket timeout for pooled upstream connections, busy or free: no per-request timer.
    const agentOptions = {
      keepAlive: true,
      scheduling: 'lifo' as const,
      timeout: this.idleTimeoutMs,
      maxFreeSockets: 1024,
    };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
    this.upstreamAgent = createUpstreamAgent(UPSTREAM_CONNECT_TIMEOUT_MS, this.idleTimeoutMs);
    this.http = http.createServer({
      maxHeaderSize: opts.maxHeaderBytes ?? PROXY_DEFAULTS.maxHeaderBytes,
      headersTimeout: headerTimeoutMs,
      // Uploads may legitimately take long; inactivity is what the idle timeout catches.
      requestTimeout: 0,
      keepAliveTimeout: this.idleTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headerTimeoutMs / 4))),
      noDelay: true,
    });
    this.http.timeout = this.idleTimeoutMs;
    // node:http would drop the fields past its default count silently; the slave counts them itself.
    this.http.maxHeadersCount = 0;
    this.upstreamPool = new UpstreamPool(UPSTREAM_CONNECT_TIMEOUT_MS);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const proxy = this;
    this.fastHost = {
      name: opts.name,
      via: this.via,
      viaPseudonym: this.viaPseudonym,
      deps: this.deps,
      pool: this.upstreamPool,
      maxHeaderBytes: opts.maxHeaderBytes ?? PROXY_DEFAULTS.maxHeaderBytes,
      idleTimeoutMs: this.idleTimeoutMs,
      headerTimeoutMs,
      get closing() {
        return proxy.closing;
      },
      record: (ex, up, down) => this.record(ex, up, down),
      headerTimeout: (socket) =>
        this.onClientError(
          Object.assign(new Error('request headers timed out'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }),
          socket,
        ),
      handOver: (socket) => this.http.emit('connection', socket),
      forget: (conn) => this.fastConnections.delete(conn),
      logError: (err, url) => this.opts.logger.error({ err, url }, 'request handling failed'),
    };
    this.http.on('request', (req, res) => this.onRequest(req, res, false));
    this.http.on('checkContinue', (req, res) => this.onRequest(req, res, true));
    this.http.on('connect', (req, socket, head) => this.onConnect(req, socket as Socket, head));
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as Socket, head));
    this.http.on('clientError', (err, socket) => this.onClientError(err, socket));
    // The http server never listens itself (net listeners hand it sockets), so start its
    // header-timeout bookkeeping the way `listen` would.
    this.http.emit('listening');
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onConnection(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: host || undefined, port, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.logger.error({ err }, 'proxy listener error'));
    this.listeners.push(server);
    const address = server.address() as AddressInfo;
    this.endpoints = [...this.endpoints, { address: address.address, port: address.port }];
    return address;
  }

  addresses(): Endpoint[] {
    return this.endpoints;
  }

  get activeConnections(): number {
    return this.sockets.size;
  }

  /** Stops accepting, lets in-flight requests and tunnels finish within `graceMs`, then cuts the rest. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    await Promise.all(this.listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    const deadline = Date.now() + graceMs;
    this.closeIdle();
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      this.closeIdle();
    }
    const cut = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    if (cut > 0)
      this.opts.logger.warn({ connections: cut, graceMs }, 'shutdown grace period over; closed remaining connections');
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.upstreamPool.destroy();
    await this.upstreamAgent.destroy();
    this.http.close();
    this.opts.accessLog?.flush();
  }

  private closeIdle(): void {
    this.http.closeIdleConnections();
    for (const c of this.fastConnections) c.closeIfIdle();
  }

  private onConnection(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.on('error', ignore);
    // Reset by the peer before it was accepted (a balancer whose client left at once): nobody to
    // answer or to name in a record.
    if (identifyClient(socket) === undefined) {
      socket.destroy();
      return;
    }
    if (this.sockets.size >= this.maxConnections) {
      this.opts.metrics.rejected.labels('connection-limit').inc();
      this.recordRefusedConnection(clientAddress(socket), 'connection-limit', 503, 0);
      this.shed(socket, `the proxy is at its connection limit (${this.maxConnections}); try again shortly`);
      return;
    }
    this.sockets.add(socket);
    this.opts.metrics.activeConnections.inc();
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.opts.metrics.activeConnections.dec();
    });
    if (this.opts.proxyProtocolFrom?.has(clientAddress(socket))) this.awaitProxyHeader(socket);
    else this.fastConnections.add(new FastConnection(this.fastHost, socket));
  }

  /**
   * A trusted balancer's connection: its PROXY protocol header first (within the header timeout),
   * then the client's own bytes go to the fast path, with the client's address as the one policy,
   * the allow list and access records see. A connection without a valid header is closed unread.
   */
  private awaitProxyHeader(socket: Socket): void {
    const balancer = clientAddress(socket);
    let buf: Buffer | undefined;
    const detach = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('timeout', onTimeout);
    };
    const refuse = (reason: string, status: number) => {
      detach();
      this.opts.metrics.rejected.labels('proxy-protocol').inc();
      this.recordRefusedConnection(balancer, 'proxy-protocol', status, socket.bytesRead);
      this.proxyProtocolLog.log((suppressed) =>
        this.opts.logger.warn(
          { balancer, reason, suppressed },
          'closed a connection from a PROXY protocol load balancer: no valid header',
        ),
      );
      socket.destroy();
    };
    const onTimeout = () => refuse(`no complete PROXY protocol header within ${this.fastHost.headerTimeoutMs} ms`, 408);
    // A TCP health check, or a balancer whose client left before it sent anything: nothing to
    // refuse or record, as for any client that connects and closes without a request.
    const onEnd = () => {
      if (buf !== undefined) return refuse('the connection ended inside the PROXY protocol header', 400);
      detach();
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const header = parseProxyHeader(buf);
      if (header.kind === 'incomplete') return;
      if (header.kind === 'invalid') return refuse(header.reason, 400);
      detach();
      if (header.source !== undefined) setProxiedClient(socket, header.source);
      const conn = new FastConnection(this.fastHost, socket);
      this.fastConnections.add(conn);
      if (buf.length > header.length) conn.onData(buf.subarray(header.length));
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('timeout', onTimeout);
    socket.setTimeout(this.fastHost.headerTimeoutMs);
  }

  /** Answers 503 without parsing, reads and discards what the client sends, and closes. */
  private shed(socket: Socket, reason: string): void {
    socket.end(
      rawResponse(
        503,
        ['Content-Type', 'text/plain; charset=utf-8', 'Connection', 'close', 'Retry-After', '1'],
        `503 Service Unavailable\n${reason}\n`,
      ),
    );
    socket.resume();
    socket.setTimeout(2000, () => socket.destroy());
  }

  private onClientError(err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex): void {
    const code = err.code ?? 'unknown';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let reason = `malformed request (${err.reason ?? err.message}); it was not forwarded`;
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      reason = 'request headers are too large; they were not forwarded';
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
      status = 408;
      reason = 'the request headers did not arrive in time';
    }
    this.opts.metrics.rejected.labels(String(status)).inc();
    this.recordRefusedConnection(
      clientAddress(socket as Socket),
      'invalid-request',
      status,
      (socket as Socket).bytesRead ?? 0,
    );
    socket.end(
      rawResponse(
        status,
        ['Content-Type', 'text/plain; charset=utf-8', 'Connection', 'close', 'Via', this.via],
        `${status} ${STATUS_CODES[status]}\n${reason}\n`,
      ),
    );
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** The access record of a connection refused before any request was read from it (`error:<what>`). */
  private recordRefusedConnection(client: string, what: string, status: number, bytesUp: number): void {
    const ex = new Exchange('NONE', client);
    // No request was read, so no host: '-' as in Squid's log. The master refuses an empty host,
    // and a refused record would be dropped (counted in recordsDropped), not reported.
    ex.host = '-';
    ex.url = `error:${what}`;
    ex.status = status;
    ex.action = 'deny';
    this.record(ex, bytesUp, 0);
  }

  private record(ex: Exchange, bytesUp: number, bytesDown: number): void {
    ex.bytesUp = bytesUp;
    ex.bytesDown = bytesDown;
    const seconds = ex.elapsed();
    const m = this.opts.metrics;
    if (ex.method === 'CONNECT') {
      m.tunnels[ex.action].inc();
      m.tunnelSeconds.observe(seconds);
    } else {
      m.requests[ex.action].inc();
      m.requestSeconds.observe(seconds);
    }
    m.bytesUp.inc(bytesUp);
    m.bytesDown.inc(bytesDown);
    const durationMs = Math.round(seconds * 1000);
    this.opts.queue?.record(ex, durationMs);
    this.opts.accessLog?.write(ex.toRecord(this.opts.name, durationMs), ex);
  }

  // ---- HTTP (absolute-form) -------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    // node detaches req.socket once the exchange is over: keep it for the byte counts.
    const socket = req.socket;
    const ex = new Exchange(req.method ?? 'GET', clientAddress(socket));
    ex.url = req.url ?? '';
    if (this.closing) res.shouldKeepAlive = false;
    res.once('close', () => {
      // A client that went away mid-response takes the upstream exchange with it.
      if (!res.writableFinished) ex.abortUpstream?.();
      const d = socketDelta(socket);
      if (ex.status === 0) ex.status = res.statusCode;
      this.record(ex, d.read, d.written);
    });
    const c = new RequestContext(req, res, ex);
    try {
      this.handleRequest(c, expectContinue);
    } catch (err) {
      this.internalError(c, err);
    }
  }

  private internalError(c: RequestContext, err: unknown): void {
    this.opts.logger.error({ err, url: c.ex.url }, 'request handling failed');
    this.fail(c, refusal(500, 'internal proxy error', 'allow'));
  }

  private handleRequest(c: RequestContext, expectContinue: boolean): void {
    const { req, ex } = c;
    if (tooManyFields(req.rawHeaders)) {
      this.fail(c, tooManyRequestFields());
      return;
    }
    let target: Target;
    try {
      target = parseAbsoluteTarget(requestUrl(req));
      const hosts = rawHeaderCount(req.rawHeaders, 'host');
      if (hosts > 1) throw new TargetError('more than one Host header');
      const host = req.headers.host;
      if (host !== undefined && !isValidHostHeader(host))
        throw new TargetError(`invalid Host header "${host.slice(0, 100)}"`);
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      this.fail(c, refusal(400, err.message));
      return;
    }
    c.target = target;
    ex.host = target.host;
    ex.url = target.display;
    const via = rawHeader(req.rawHeaders, 'via');
    if (via !== undefined && via.includes(this.viaPseudonym)) {
      this.fail(
        c,
        refusal(
          508,
          `forwarding loop: the request already passed through ${this.opts.name} (Via: ${via.slice(0, 200)})`,
        ),
      );
      return;
    }
    const admission = admit(this.deps, req, target, ex, false);
    if (!(admission instanceof Promise)) {
      this.onAdmission(c, admission, expectContinue);
      return;
    }
    admission.then(
      (a) => this.onAdmission(c, a, expectContinue),
      (err: unknown) => this.internalError(c, err),
    );
  }

  private onAdmission(c: RequestContext, a: Admission, expectContinue: boolean): void {
    if (!a.ok) {
      this.fail(c, a);
      return;
    }
    if (c.res.destroyed) return;
    c.admitted = a;
    if (expectContinue) this.forwardExpectingContinue(c);
    else this.relay(c);
  }

  /** The request's end-to-end fields with the policy's edits, then the slave's own. */
  private upstreamRequestHeaders(c: RequestContext): string[] {
    const { req, ex } = c;
    const a = c.admitted!;
    const headers = endToEndHeaders(req.rawHeaders, {
      drop: DROP_ON_REQUEST,
      edits: a.policy.requestHeaderEdits(a.ctx),
    });
    const xff = rawHeader(req.rawHeaders, 'x-forwarded-for');
    headers.push(
      'Host',
      c.target!.authority,
      'Via',
      this.via,
      'X-Forwarded-For',
      xff ? `${xff}, ${ex.client}` : ex.client,
    );
    return headers;
  }

  private relay(c: RequestContext): void {
    const { req, res } = c;
    const target = c.target!;
    const a = c.admitted!;
    const headers = this.upstreamRequestHeaders(c);
    const body = hasBody(req);
    const handler = new RelayHandler(res, body, {
      onResponse: (status, statusText, raw) => this.respond(c, status, statusText, raw),
      onFailure: (err, retryable) => {
        // A pooled connection the upstream closed meanwhile: safe to retry a bodiless idempotent request once.
        if (retryable && !c.retried && IDEMPOTENT.has(req.method ?? '') && STALE_CONNECTION.has(err.code ?? '')) {
          c.retried = true;
          this.relay(c);
          return;
        }
        // The next request to this host goes to another of its addresses, if it has one.
        this.guard.dialFailed(a.address, err.code);
        const f = upstreamFailure(err);
        this.fail(c, refusal(f.status, `upstream ${target.authority} (${a.address}) ${f.why}`, 'allow'));
      },
    });
    c.ex.abortUpstream = () => handler.abort();
    const host = a.address.includes(':') ? `[${a.address}]` : a.address;
    this.upstreamAgent.dispatch(
      {
        origin: `${target.scheme}://${host}:${target.port}`,
        path: target.path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body: body ? req : null,
      },
      handler,
    );
  }

  /** The upstream's response head: policy on the response, then the head to the client. False: do not stream the body. */
  private respond(c: RequestContext, status: number, statusText: string, raw: string[]): boolean {
    const { res } = c;
    const a = c.admitted!;
    if (tooManyFields(raw)) {
      this.fail(c, tooManyResponseFields(c.target!));
      return false;
    }
    const refused = admitResponse(a, c.ex, c.target!, status, rawHeader(raw, 'content-type'));
    if (refused) {
      this.fail(c, refused);
      return false;
    }
    if (res.destroyed) return false;
    const headers = endToEndHeaders(raw, { edits: a.policy.responseHeaderEdits(a.ctx) });
    headers.push('Via', this.via);
    c.ex.status = status;
    res.writeHead(status, statusText, headers);
    return true;
  }

  /** Answers with a block page, redirect or error page; never forwards. */
  private fail(c: RequestContext, r: Refusal): void {
    const { req, res } = c;
    const page = refusalPage(c.ex, r, {
      target: c.target?.display,
      proxy: this.opts.name,
      via: this.via,
      html: wantsHtml(req.headers.accept),
    });
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const headers = page.headers;
    // After a malformed request the connection's framing is suspect, and an unread upload is not
    // worth draining: close the connection after the answer.
    if (r.status === 400 || r.status === 431 || (!req.complete && hasBody(req))) headers.push('Connection', 'close');
    headers.push('Content-Length', String(Buffer.byteLength(page.body)));
    res.writeHead(r.status, headers);
    res.end(req.method === 'HEAD' ? undefined : page.body);
  }

  /**
   * `Expect: 100-continue` requests go through node:http, which relays the upstream's 100 (and
   * so lets a client that is refused skip sending its body); undici's HTTP/1.1 client has no 100.
   */
  private forwardExpectingContinue(c: RequestContext): void {
    const { req, res } = c;
    const target = c.target!;
    const a = c.admitted!;
    const headers = this.upstreamRequestHeaders(c);
    if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked');
    const isHttps = target.scheme === 'https';
    const upReq = (isHttps ? https : http).request({
      host: a.address,
      port: target.port,
      method: req.method,
      path: target.path,
      headers,
      setHost: false,
      agent: isHttps ? this.httpsAgent : this.httpAgent,
      // TLS verifies the name the client asked for while TCP goes to the checked address.
      ...(isHttps && !net.isIP(target.host) ? { servername: target.host } : {}),
    });
    upReq.maxHeadersCount = 0;
    c.ex.abortUpstream = () => upReq.destroy();
    let responded = false;
    // The agent's socket timeout (the idle timeout) surfaces here while the request owns the socket.
    upReq.on('timeout', () => upReq.destroy(new UpstreamTimeout('upstream idle timeout')));
    upReq.on('continue', () => res.writeContinue());
    upReq.on('response', (upRes) => {
      responded = true;
      this.relayResponse(c, upRes);
    });
    upReq.on('error', (err: NodeJS.ErrnoException) => {
      if (responded) {
        res.destroy();
        return;
      }
      this.guard.dialFailed(a.address, err.code);
      const timeout = err instanceof UpstreamTimeout || err.code === 'ETIMEDOUT';
      const why = timeout ? 'timed out' : `failed: ${err.code ?? err.message}`;
      this.fail(c, refusal(timeout ? 504 : 502, `upstream ${target.authority} (${a.address}) ${why}`, 'allow'));
    });
    upReq.flushHeaders();
    req.pipe(upReq);
    req.once('error', () => upReq.destroy());
  }

  private relayResponse(c: RequestContext, upRes: IncomingMessage): void {
    const { res } = c;
    const a = c.admitted!;
    const status = upRes.statusCode ?? 502;
    if (tooManyFields(upRes.rawHeaders)) {
      upRes.destroy();
      this.fail(c, tooManyResponseFields(c.target!));
      return;
    }
    const refused = admitResponse(a, c.ex, c.target!, status, upRes.headers['content-type']);
    if (refused) {
      upRes.destroy();
      this.fail(c, refused);
      return;
    }
    if (res.destroyed) {
      upRes.destroy();
      return;
    }
    const headers = endToEndHeaders(upRes.rawHeaders, { edits: a.policy.responseHeaderEdits(a.ctx) });
    headers.push('Via', this.via);
    c.ex.status = status;
    res.writeHead(status, upRes.statusMessage, headers);
    upRes.pipe(res);
    // An upstream that dies mid-body must not look like a complete response to the client.
    upRes.once('close', () => {
      if (!upRes.complete) res.destroy();
    });
  }

  // ---- WebSocket and other upgrades -------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ex = new Exchange(req.method ?? 'GET', clientAddress(socket));
    ex.url = req.url ?? '';
    const startRead = socket.bytesRead;
    const done = (up: number, down: number): void => this.record(ex, up, down);
    this.handleUpgrade(req, socket, head, ex)
      .then((upstream) => {
        if (!upstream) {
          done(socket.bytesRead - startRead, socket.bytesWritten);
          return;
        }
        // An upgraded connection is a tunnel for the limits and the gauge.
        this.tunnels++;
        this.opts.metrics.activeTunnels.inc();
        upstream.once('close', () => {
          this.tunnels--;
          this.opts.metrics.activeTunnels.dec();
          done(upstream.bytesWritten, socket.bytesWritten);
        });
      })
      .catch((err: unknown) => {
        this.opts.logger.error({ err, url: ex.url }, 'upgrade handling failed');
        socket.destroy();
      });
  }

  private rawFail(socket: Socket, ex: Exchange, r: Refusal, target?: Target, html = false): void {
    const page = refusalPage(ex, r, { target: target?.display, proxy: this.opts.name, via: this.via, html });
    const headers = [...page.headers, 'Connection', 'close'];
    if (socket.writable) socket.end(rawResponse(r.status, headers, page.body));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Resolves to the upstream socket once the upgrade is established, or undefined if refused. */
  private async handleUpgrade(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    ex: Exchange,
  ): Promise<Socket | undefined> {
    if (tooManyFields(req.rawHeaders)) {
      this.rawFail(socket, ex, tooManyRequestFields());
      return undefined;
    }
    let target: Target;
    try {
      target = parseAbsoluteTarget(requestUrl(req));
      if (target.scheme !== 'http')
        throw new TargetError('upgrades are proxied for http:// URLs only; use CONNECT for TLS');
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      this.rawFail(socket, ex, refusal(400, err.message));
      return undefined;
    }
    ex.host = target.host;
    ex.url = target.display;
    if (this.tunnels >= this.maxTunnels) {
      this.rawFail(
        socket,
        ex,
        refusal(503, `the proxy is at its tunnel limit (${this.maxTunnels}); try again shortly`, 'allow'),
        target,
      );
      return undefined;
    }
    const a = await admit(this.deps, req, target, ex, false);
    if (!a.ok) {
      this.rawFail(socket, ex, a, target, wantsHtml(req.headers.accept));
      return undefined;
    }
    const headers = endToEndHeaders(req.rawHeaders, {
      drop: DROP_ON_REQUEST,
      keepUpgrade: true,
      edits: a.policy.requestHeaderEdits(a.ctx),
    });
    headers.push('Host', target.authority, 'Via', this.via, 'X-Forwarded-For', ex.client);
    return new Promise<Socket | undefined>((resolve) => {
      const upReq = http.request({
        host: a.address,
        port: target.port,
        method: req.method,
        path: target.path,
        headers,
        setHost: false,
        agent: false,
      });
      upReq.maxHeadersCount = 0;
      upReq.setTimeout(UPSTREAM_CONNECT_TIMEOUT_MS, () => upReq.destroy(new UpstreamTimeout('upstream timed out')));
      upReq.on('upgrade', (upRes, upSocket: Socket, upHead) => {
        upReq.setTimeout(0);
        if (tooManyFields(upRes.rawHeaders)) {
          upSocket.destroy();
          this.rawFail(socket, ex, tooManyResponseFields(target), target);
          resolve(undefined);
          return;
        }
        ex.status = upRes.statusCode ?? 101;
        const respHeaders = endToEndHeaders(upRes.rawHeaders, {
          keepUpgrade: true,
          edits: a.policy.responseHeaderEdits(a.ctx),
        });
        respHeaders.push('Via', this.via);
        let text = `HTTP/1.1 ${ex.status} ${upRes.statusMessage ?? 'Switching Protocols'}\r\n`;
        for (let i = 0; i < respHeaders.length; i += 2) text += `${respHeaders[i]}: ${respHeaders[i + 1]}\r\n`;
        socket.write(text + '\r\n');
        if (upHead.length) socket.write(upHead);
        if (head.length) upSocket.write(head);
        splice(socket, upSocket, this.idleTimeoutMs);
        resolve(upSocket);
      });
      upReq.on('response', (upRes) => {
        if (tooManyFields(upRes.rawHeaders)) {
          upRes.destroy();
          this.rawFail(socket, ex, tooManyResponseFields(target), target);
          resolve(undefined);
          return;
        }
        // The upstream declined the upgrade: relay its answer and close.
        ex.status = upRes.statusCode ?? 502;
        const respHeaders = endToEndHeaders(upRes.rawHeaders, {});
        respHeaders.push('Via', this.via, 'Connection', 'close');
        let text = `HTTP/1.1 ${ex.status} ${upRes.statusMessage ?? ''}\r\n`;
        for (let i = 0; i < respHeaders.length; i += 2) text += `${respHeaders[i]}: ${respHeaders[i + 1]}\r\n`;
        socket.write(text + '\r\n');
        upRes.pipe(socket);
        resolve(undefined);
      });
      upReq.on('error', (err: NodeJS.ErrnoException) => {
        this.guard.dialFailed(a.address, err.code);
        const timeout = err instanceof UpstreamTimeout;
        this.rawFail(
          socket,
          ex,
          refusal(
            timeout ? 504 : 502,
            `upstream ${target.authority} (${a.address}) ${timeout ? 'timed out' : `failed: ${err.code ?? err.message}`}`,
            'allow',
          ),
          target,
        );
        resolve(undefined);
      });
      upReq.end();
    });
  }

  // ---- CONNECT tunnels --------------------------------------------------------------------

  private onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ex = new Exchange('CONNECT', clientAddress(socket));
    ex.url = req.url ?? '';
    this.handleConnect(req, new TunnelContext(socket, head, ex)).catch((err: unknown) => {
      this.opts.logger.error({ err, target: ex.url }, 'CONNECT handling failed');
      socket.destroy();
    });
  }

  private async handleConnect(req: IncomingMessage, t: TunnelContext): Promise<void> {
    const { socket, ex } = t;
    if (tooManyFields(req.rawHeaders)) {
      this.refuseTunnel(t, tooManyRequestFields());
      return;
    }
    let target: Target;
    try {
      const tunnel = (socket as TunnelSocket)[kHttpTunnel];
      if (tunnel !== undefined) throw new TargetError(`CONNECT inside the plain-HTTP tunnel to ${tunnel} is refused`);
      target = parseConnectTarget(req.url ?? '');
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      this.refuseTunnel(t, refusal(400, err.message));
      return;
    }
    t.target = target;
    ex.host = target.host;
    ex.url = target.display;
    if (this.tunnels >= this.maxTunnels) {
      this.opts.metrics.rejected.labels('tunnel-limit').inc();
      this.refuseTunnel(
        t,
        refusal(503, `the proxy is at its tunnel limit (${this.maxTunnels}); try again shortly`, 'allow'),
      );
      return;
    }
    this.tunnels++;
    const a = await admit(this.deps, req, target, ex, true);
    if (!a.ok || socket.destroyed) {
      this.tunnels--;
      if (!a.ok) this.refuseTunnel(t, a);
      else this.record(ex, 0, 0);
      return;
    }
    if (a.policy.accessRestriction.httpTunnelPorts.includes(target.port)) {
      this.tunnels--;
      this.openHttpTunnel(t);
      return;
    }
    t.admitted = a;
    this.dialTunnel(t);
  }

  /**
   * A CONNECT to a port the policy declares as plain HTTP (`httpTunnelPorts`, 80 by default): nothing
   * is dialled for the tunnel itself. The client gets its 200, and the connection goes to the HTTP
   * server, which reads each request inside as if it had been sent to `http://host:port` in absolute
   * form: the full policy, block pages, header rules and an access record for each (undici's
   * ProxyAgent, and so Node's fetch through a proxy, sends http:// URLs this way).
   */
  private openHttpTunnel(t: TunnelContext): void {
    const { socket, head, ex } = t;
    ex.status = 200;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    this.record(ex, socket.bytesRead - t.startRead, 0);
    (socket as TunnelSocket)[kHttpTunnel] = t.target!.authority;
    socket.pause();
    if (head?.length) socket.unshift(head);
    this.http.emit('connection', socket);
    socket.resume();
  }

  private refuseTunnel(t: TunnelContext, r: Refusal): void {
    this.rawFail(t.socket, t.ex, r, t.target);
    this.record(t.ex, t.socket.bytesRead - t.startRead, 0);
  }

  private tunnelFailed(t: TunnelContext, err: Error & { code?: string }, address: string): void {
    this.tunnels--;
    const timeout = err instanceof UpstreamTimeout;
    const why = timeout ? 'timed out' : (err.code ?? err.message);
    this.refuseTunnel(
      t,
      refusal(timeout ? 504 : 502, `cannot reach ${t.target!.display} (${address}): ${why}`, 'allow'),
    );
  }

  /** Dials the admitted address; on a failure before anything reached it, the host's next address. */
  private dialTunnel(t: TunnelContext): void {
    const { socket } = t;
    const a = t.admitted!;
    const address = a.address;
    const onread = tunnelReadOptions();
    const upstream = net.connect({ host: address, port: t.target!.port, allowHalfOpen: true, noDelay: true, onread });
    adoptReadBuffer(upstream, onread);
    upstream.setTimeout(UPSTREAM_CONNECT_TIMEOUT_MS, () => upstream.destroy(new UpstreamTimeout('connect timed out')));
    const onEarlyError = (err: NodeJS.ErrnoException): void => {
      socket.off('close', onClientGone);
      // Nothing reached this address: try the host's next one, unless the client left meanwhile.
      if (this.guard.dialFailed(address, err.code) && t.redials < MAX_REDIALS && !socket.destroyed) {
        nextAddress(this.deps, a, t.target!, t.ex).then(
          (next) => {
            if (!next || socket.destroyed) {
              this.tunnelFailed(t, err, address);
              return;
            }
            t.redials++;
            this.dialTunnel(t);
          },
          () => this.tunnelFailed(t, err, address),
        );
        return;
      }
      this.tunnelFailed(t, err, address);
    };
    const onClientGone = (): void => {
      upstream.destroy();
    };
    upstream.once('error', onEarlyError);
    socket.once('close', onClientGone);
    upstream.once('connect', () => {
      upstream.off('error', onEarlyError);
      socket.off('close', onClientGone);
      const head = t.head;
      // The open tunnel holds neither the CONNECT's bytes nor the decision.
      t.head = undefined;
      t.admitted = undefined;
      this.tunnelOpen(socket, upstream, t.ex, head);
    });
  }

  /**
   * Separate from `dialTunnel` so that the closure an open tunnel keeps (its close listener) holds
   * only the exchange, not the dial's state.
   */
  private tunnelOpen(socket: Socket, upstream: Socket, ex: Exchange, head: Buffer | undefined): void {
    ex.status = 200;
    this.opts.metrics.activeTunnels.inc();
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head?.length) upstream.write(head);
    splice(socket, upstream, this.idleTimeoutMs);
    upstream.once('close', () => {
      this.tunnels--;
      this.opts.metrics.activeTunnels.dec();
      this.record(ex, upstream.bytesWritten, upstream.bytesRead);
    });
  }
}
