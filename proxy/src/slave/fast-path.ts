/**
 * The common case of a forward proxy without node:http: a bodiless absolute-form `http://` request
 * (GET, HEAD, or any method without a body) on a keep-alive connection. The client socket is read
 * raw, the head parsed strictly (`http-head.ts`), admitted exactly as on the node:http path, written
 * to a pooled raw upstream socket, and the response relayed while its framing is tracked so the
 * upstream socket can be reused. Per request this costs a fraction of node:http's server and client.
 *
 * Anything else — bodies, `Expect`, upgrades, CONNECT, HTTP/1.0, a head split across reads,
 * oversized or malformed heads — hands the connection, with the bytes already read, to node:http
 * for good (`handOver`), which answers exactly as before (including its 400/431/408).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import {
  admit,
  admitResponse,
  nextAddress,
  refusal,
  type Admission,
  type AdmissionDeps,
  type Admitted,
  type Refusal,
} from './admission.js';
import { MAX_REDIALS } from './ssrf-guard.js';
import { wantsHtml } from './block-page.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { DROP_ON_REQUEST, IDEMPOTENT } from './forwarding-rules.js';
import { clientAddress, Exchange, socketDelta } from './exchange.js';
import { endToEndHeaders, endToEndLines, fieldLines, rawHeader, rawHeaderCount } from './hop-headers.js';
import {
  headEnd,
  parseRequestHead,
  parseResponseHead,
  ResponseHeadError,
  type RequestHead,
  type ResponseHead,
} from './http-head.js';
import { isValidHostHeader, parseAbsoluteTarget, TargetError, type Target } from './request-target.js';
import { refusalPage } from './refusal-page.js';
import type { UpstreamOwner, UpstreamPool } from './upstream-pool.js';

export interface FastPathHost {
  readonly name: string;
  readonly via: string;
  readonly viaPseudonym: string;
  readonly deps: AdmissionDeps;
  readonly pool: UpstreamPool;
  readonly maxHeaderBytes: number;
  readonly idleTimeoutMs: number;
  /** Time a new connection has to send its first request head, as node:http's `headersTimeout`. */
  readonly headerTimeoutMs: number;
  /** The proxy is shutting down: finish the exchange in flight, then close. */
  readonly closing: boolean;
  record(ex: Exchange, bytesUp: number, bytesDown: number): void;
  /** A new connection sent no request in time: answer 408 and close, as node:http does. */
  headerTimeout(socket: Socket): void;
  /** Gives the socket (with its unread bytes unshifted) to node:http. */
  handOver(socket: Socket): void;
  /** The connection left the fast path (handed over or closed). */
  forget(conn: FastConnection): void;
  logError(err: unknown, url: string): void;
}

const MAX_RESPONSE_HEAD = 64 * 1024;
const LAST_CHUNK = '0\r\n\r\n';

const kConn = Symbol('safesquid.fastConnection');
type FastSocket = Socket & { [kConn]?: FastConnection };

function onClientData(this: FastSocket, chunk: Buffer): void {
  this[kConn]?.onData(chunk);
}

function onClientEnd(this: FastSocket): void {
  this[kConn]?.onEnd();
}

function onClientClose(this: FastSocket): void {
  this[kConn]?.onClose();
}

function onClientTimeout(this: FastSocket): void {
  const conn = this[kConn];
  if (conn?.fresh) conn.timedOutFresh();
  // The exchange in flight sent the client nothing for the idle time: a silent upstream gets its 504, a stalled body is cut.
  else if (conn?.current?.upstream) conn.current.onUpstreamTimeout();
  else this.destroy();
}

function onClientDrain(this: FastSocket): void {
  this[kConn]?.current?.upstream?.resume();
}

export class FastConnection {
  current: FastExchange | undefined = undefined;
  private pending: Buffer | undefined = undefined;
  private ended = false;
  private gone = false;
  /** No request has started yet: the header timeout applies, afterwards the idle timeout. */
  fresh = true;
  /** The client's address, as access records show it. */
  readonly client: string;

  constructor(
    readonly host: FastPathHost,
    readonly socket: Socket,
  ) {
    this.client = clientAddress(socket);
    (socket as FastSocket)[kConn] = this;
    socket.on('data', onClientData);
    socket.on('end', onClientEnd);
    socket.on('close', onClientClose);
    socket.on('drain', onClientDrain);
    socket.on('timeout', onClientTimeout);
    socket.setTimeout(host.headerTimeoutMs);
  }

  timedOutFresh(): void {
    this.detach();
    this.host.headerTimeout(this.socket);
  }

  get idle(): boolean {
    return this.current === undefined && this.pending === undefined;
  }

  onData(chunk: Buffer): void {
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.current) {
      // Pipelined: the next request waits for this response.
      this.socket.pause();
      return;
    }
    this.next();
  }

  onEnd(): void {
    this.ended = true;
    if (this.idle) this.socket.end();
  }

  onClose(): void {
    this.gone = true;
    this.detach();
    this.current?.clientGone();
  }

  /** Starts the next complete request in the buffer, hands the connection over, or waits for more. */
  next(): void {
    while (this.pending && !this.current && !this.gone) {
      const buf = this.pending;
      const end = headEnd(buf, 0);
      const head = end !== -1 && end <= this.host.maxHeaderBytes ? parseRequestHead(buf, 0, end) : undefined;
      if (!head) {
        this.handOver();
        return;
      }
      this.pending = end < buf.length ? buf.subarray(end) : undefined;
      if (this.fresh) {
        this.fresh = false;
        this.socket.setTimeout(this.host.idleTimeoutMs);
      }
      this.current = new FastExchange(this, head);
      this.current.start();
    }
    if (!this.current && !this.gone) {
      if (this.ended || this.host.closing) this.socket.end();
      else this.socket.resume();
    }
  }

  /** The exchange in flight is over; `close`: the connection must not carry another request. */
  finished(close: boolean): void {
    this.current = undefined;
    if (close || this.host.closing) {
      this.detach();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
      return;
    }
    this.next();
  }

  /** Ends an idle connection during shutdown. */
  closeIfIdle(): void {
    if (this.idle && !this.gone) this.socket.end();
  }

  private detach(): void {
    const s = this.socket as FastSocket;
    if (s[kConn] !== this) return;
    s[kConn] = undefined;
    s.off('data', onClientData);
    s.off('end', onClientEnd);
    s.off('close', onClientClose);
    s.off('drain', onClientDrain);
    s.off('timeout', onClientTimeout);
    this.host.forget(this);
  }

  private handOver(): void {
    this.detach();
    const s = this.socket;
    s.setTimeout(0);
    s.pause();
    if (this.pending) s.unshift(this.pending);
    this.pending = undefined;
    this.host.handOver(s);
    s.resume();
  }
}

const HEAD = 0;
const BODY = 1;
const DONE = 2;

class FastExchange implements UpstreamOwner {
  private readonly ex: Exchange;
  private readonly socket: Socket;
  private target: Target | undefined = undefined;
  private admitted: Admitted | undefined = undefined;
  upstream: Socket | undefined = undefined;
  private reused = false;
  private retried = false;
  /** Other addresses of the host tried after a refused connection. */
  private redials = 0;
  private phase = HEAD;
  private responseBuf: Buffer | undefined = undefined;
  private response: ResponseHead | undefined = undefined;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined = undefined;
  /** The response head, held back so that it leaves with the first body bytes in one write. */
  private headText: string | undefined = undefined;
  /** The upstream socket cannot carry another request after this one. */
  private spoiled = false;
  private closeClient: boolean;

  constructor(
    private readonly conn: FastConnection,
    private readonly head: RequestHead,
  ) {
    this.socket = conn.socket;
    this.ex = new Exchange(head.method, conn.client);
    this.ex.url = head.target;
    this.closeClient = head.close;
  }

  start(): void {
    try {
      this.admit();
    } catch (err) {
      this.internalError(err);
    }
  }

  private internalError(err: unknown): void {
    this.conn.host.logError(err, this.ex.url);
    this.fail(refusal(500, 'internal proxy error', 'allow'));
  }

  private admit(): void {
    const { head, ex } = this;
    const host = this.conn.host;
    let target: Target;
    try {
      target = parseAbsoluteTarget(head.target);
      if (rawHeaderCount(head.raw, 'host') > 1) throw new TargetError('more than one Host header');
      const hostHeader = rawHeader(head.raw, 'host');
      if (hostHeader !== undefined && !isValidHostHeader(hostHeader))
        throw new TargetError(`invalid Host header "${hostHeader.slice(0, 100)}"`);
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      this.fail(refusal(400, err.message));
      return;
    }
    this.target = target;
    ex.host = target.host;
    ex.url = target.display;
    const via = rawHeader(head.raw, 'via');
    if (via !== undefined && via.includes(host.viaPseudonym)) {
      this.fail(
        refusal(508, `forwarding loop: the request already passed through ${host.name} (Via: ${via.slice(0, 200)})`),
      );
      return;
    }
    const admission = admit(host.deps, head, target, ex, false);
    if (!(admission instanceof Promise)) {
      this.onAdmission(admission);
      return;
    }
    admission.then(
      (a) => this.onAdmission(a),
      (err: unknown) => this.internalError(err),
    );
  }

  private onAdmission(a: Admission): void {
    if (this.phase === DONE) return;
    if (!a.ok) {
      this.fail(a);
      return;
    }
    this.admitted = a;
    this.dispatch();
  }

  private dispatch(): void {
    const a = this.admitted!;
    const target = this.target!;
    const host = this.conn.host;
    const head = this.head;
    const edits = a.policy.requestHeaderEdits(a.ctx);
    const fields =
      (!edits && endToEndLines(head, DROP_ON_REQUEST)) ||
      fieldLines(endToEndHeaders(head.raw, { drop: DROP_ON_REQUEST, edits }));
    const xff = rawHeader(head.raw, 'x-forwarded-for');
    const client = this.ex.client;
    const text = `${head.method} ${target.path} HTTP/1.1\r\n${fields}Host: ${target.authority}\r\nVia: ${host.via}\r\nX-Forwarded-For: ${xff ? `${xff}, ${client}` : client}\r\n\r\n`;
    const { socket, reused } = host.pool.acquire(a.address, target.port, this);
    this.upstream = socket;
    this.reused = reused;
    socket.write(text, 'latin1');
  }

  // ---- upstream events ------------------------------------------------------------------

  onUpstreamData(chunk: Buffer, shared: boolean): void {
    if (this.phase === DONE) return;
    if (this.phase === HEAD) {
      const buf = this.responseBuf ? Buffer.concat([this.responseBuf, chunk]) : chunk;
      if (this.responseBuf) shared = false;
      this.responseBuf = undefined;
      let start = 0;
      for (;;) {
        const end = headEnd(buf, start);
        if (end === -1) {
          if (buf.length - start > MAX_RESPONSE_HEAD) this.upstreamFailed(502, 'failed: response headers too large');
          // The read buffer is reused: keep a copy of a head that is still arriving.
          else this.responseBuf = Buffer.from(buf.subarray(start));
          return;
        }
        let response: ResponseHead;
        try {
          response = parseResponseHead(buf, start, end, this.head.method);
        } catch (err) {
          if (!(err instanceof ResponseHeadError)) throw err;
          this.upstreamFailed(502, `failed: ${err.message}`);
          return;
        }
        start = end;
        if (response.status === 101) {
          this.upstreamFailed(502, 'failed: switched protocols without an upgrade request');
          return;
        }
        // Interim responses (100, 103) are dropped, as undici does.
        if (response.status < 200) continue;
        if (!this.respond(response)) return;
        break;
      }
      if (start < buf.length) this.body(buf, start, shared);
      else if (this.response!.framing === 'none') this.complete();
      this.flushHead();
      return;
    }
    this.body(chunk, 0, shared);
  }

  /** Response policy, then the head to the client. False when refused. */
  private respond(response: ResponseHead): boolean {
    const a = this.admitted!;
    const ex = this.ex;
    const host = this.conn.host;
    const refused = admitResponse(a, ex, this.target!, response.status, rawHeader(response.raw, 'content-type'));
    if (refused) {
      this.spoiled = true;
      this.releaseUpstream();
      this.fail(refused);
      return false;
    }
    this.response = response;
    this.phase = BODY;
    if (!response.reusable) this.spoiled = true;
    if (response.framing === 'length') this.remaining = response.length;
    else if (response.framing === 'chunked') this.decoder = new ChunkedDecoder();
    if (host.closing) this.closeClient = true;
    const edits = a.policy.responseHeaderEdits(a.ctx);
    const fields = (!edits && endToEndLines(response)) || fieldLines(endToEndHeaders(response.raw, { edits }));
    let text = `HTTP/1.1 ${response.status} ${response.statusText}\r\n${fields}Via: ${host.via}\r\n`;
    if (response.framing === 'chunked' || response.framing === 'close') text += 'Transfer-Encoding: chunked\r\n';
    if (this.closeClient) text += 'Connection: close\r\n';
    ex.status = response.status;
    this.headText = text + '\r\n';
    return true;
  }

  private flushHead(): void {
    if (this.headText === undefined) return;
    this.socket.write(this.headText, 'latin1');
    this.headText = undefined;
  }

  /** Head and body bytes in one buffer: one plain write instead of a writev of two. */
  private writeWithHead(data: Buffer): boolean {
    const head = this.headText!;
    this.headText = undefined;
    const out = Buffer.allocUnsafe(head.length + data.length);
    out.write(head, 0, 'latin1');
    data.copy(out, head.length);
    return this.socket.write(out);
  }

  /**
   * Body bytes to the client. `buf` is the upstream's read buffer: when `shared`, whatever a write
   * may keep is copied first; otherwise a write still queued afterwards is reported to the pool.
   */
  private body(buf: Buffer, start: number, shared: boolean): void {
    const response = this.response!;
    const client = this.socket;
    const upstream = this.upstream;
    let flowing = true;
    // writeWithHead copies; every other write may keep what it is given.
    const copy = shared && !(response.framing === 'length' && this.headText !== undefined);
    if (copy) {
      buf = Buffer.from(buf.subarray(start));
      start = 0;
    }
    switch (response.framing) {
      case 'length': {
        const n = Math.min(this.remaining, buf.length - start);
        if (n > 0) {
          const data = start === 0 && n === buf.length ? buf : buf.subarray(start, start + n);
          flowing = this.headText === undefined ? client.write(data) : this.writeWithHead(data);
        }
        this.remaining -= n;
        if (start + n < buf.length) this.spoiled = true;
        if (this.remaining === 0) this.complete();
        break;
      }
      case 'chunked': {
        let end: number;
        client.cork();
        this.flushHead();
        try {
          end = this.decoder!.feed(buf, start, (data) => {
            client.write(`${data.length.toString(16)}\r\n`);
            client.write(data);
            flowing = client.write('\r\n');
          });
        } catch (err) {
          client.uncork();
          if (!(err instanceof ResponseHeadError)) throw err;
          this.truncated();
          return;
        }
        if (end !== -1) {
          if (end < buf.length) this.spoiled = true;
          client.write(LAST_CHUNK);
        }
        client.uncork();
        if (end !== -1) this.complete();
        break;
      }
      case 'close': {
        const data = start === 0 ? buf : buf.subarray(start);
        client.cork();
        this.flushHead();
        client.write(`${data.length.toString(16)}\r\n`);
        client.write(data);
        flowing = client.write('\r\n');
        client.uncork();
        break;
      }
      default:
        // Bytes after a bodiless response: the upstream's framing is not what it said.
        this.spoiled = true;
        this.complete();
        return;
    }
    if (!copy && upstream && client.writableLength > 0) this.conn.host.pool.taken(upstream);
    if (!flowing && this.phase === BODY) this.upstream?.pause();
  }

  onUpstreamEnd(): void {
    if (this.phase === BODY && this.response!.framing === 'close') {
      this.flushHead();
      this.socket.write(LAST_CHUNK);
      this.spoiled = true;
      this.complete();
      return;
    }
    this.upstreamGone(undefined);
  }

  onUpstreamClose(err: (Error & { code?: string }) | undefined): void {
    this.upstreamGone(err);
  }

  private upstreamGone(err: (Error & { code?: string }) | undefined): void {
    if (this.phase === DONE) return;
    const up = this.upstream;
    this.upstream = undefined;
    if (up) this.conn.host.pool.discard(up);
    if (this.phase === BODY) {
      this.truncated();
      return;
    }
    const code = err?.code ?? 'ECONNRESET';
    // Nothing reached this address: the host's next address gets the same request.
    if (
      !this.reused &&
      this.responseBuf === undefined &&
      this.conn.host.deps.guard.dialFailed(this.admitted!.address, code) &&
      this.redials < MAX_REDIALS
    ) {
      this.redials++;
      this.redial(code);
      return;
    }
    // A pooled connection the upstream closed meanwhile: safe to retry an idempotent request once.
    if (this.reused && !this.retried && this.responseBuf === undefined && IDEMPOTENT.has(this.head.method)) {
      this.retried = true;
      this.dispatch();
      return;
    }
    this.upstreamFailed(502, `failed: ${code}`);
  }

  private redial(code: string): void {
    nextAddress(this.conn.host.deps, this.admitted!, this.target!, this.ex).then(
      (next) => {
        if (this.phase === DONE) return;
        if (next) this.dispatch();
        else this.upstreamFailed(502, `failed: ${code}`);
      },
      () => this.phase !== DONE && this.upstreamFailed(502, `failed: ${code}`),
    );
  }

  onUpstreamTimeout(): void {
    if (this.phase === HEAD) this.upstreamFailed(504, 'timed out');
    else this.truncated();
  }

  onUpstreamDrain(): void {}

  // ---- endings ----------------------------------------------------------------------------

  private upstreamFailed(status: number, why: string): void {
    this.spoiled = true;
    this.releaseUpstream();
    const a = this.admitted!;
    this.fail(refusal(status, `upstream ${this.target!.authority} (${a.address}) ${why}`, 'allow'));
  }

  /** The response cannot be completed: the client must see the truncation. */
  private truncated(): void {
    this.spoiled = true;
    this.releaseUpstream();
    this.socket.destroy();
    this.finish();
  }

  private complete(): void {
    this.flushHead();
    this.releaseUpstream();
    this.finish();
    this.conn.finished(this.closeClient);
  }

  private releaseUpstream(): void {
    const up = this.upstream;
    this.upstream = undefined;
    if (!up) return;
    if (this.spoiled) this.conn.host.pool.discard(up);
    else this.conn.host.pool.release(up);
  }

  clientGone(): void {
    if (this.phase === DONE) return;
    this.spoiled = true;
    this.releaseUpstream();
    if (this.ex.status === 0) this.ex.status = 200;
    this.finish();
  }

  /** Records the exchange once. */
  private finish(): void {
    if (this.phase === DONE) return;
    this.phase = DONE;
    const d = socketDelta(this.socket);
    this.conn.host.record(this.ex, d.read, d.written);
  }

  /** Answers with a block page, redirect or error page; never forwards. */
  private fail(r: Refusal): void {
    const ex = this.ex;
    const host = this.conn.host;
    const page = refusalPage(ex, r, {
      target: this.target?.display,
      proxy: host.name,
      via: host.via,
      html: wantsHtml(this.head.headers.accept),
    });
    if (this.phase !== HEAD || this.socket.destroyed) {
      this.socket.destroy();
      this.finish();
      return;
    }
    const headers = page.headers;
    // After a malformed request the connection's framing is suspect: close it after the answer.
    if (r.status === 400 || this.conn.host.closing) this.closeClient = true;
    if (this.closeClient) headers.push('Connection', 'close');
    headers.push('Content-Length', String(Buffer.byteLength(page.body)));
    let text = `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    text += '\r\n';
    this.socket.write(this.head.method === 'HEAD' ? text : text + page.body);
    this.finish();
    this.conn.finished(this.closeClient);
  }
}
