/**
 * The upstream side of a forwarded HTTP request, on undici's dispatcher: pooled keep-alive
 * connections per checked address, llhttp parsing, streaming both ways with back-pressure. It
 * costs about half the CPU of node:http's client per request, which is most of what a proxy does.
 *
 * One `RelayHandler` per exchange: it owns the decisions that need the response (MIME rules,
 * response header edits) through the callbacks the proxy passes in, and never buffers a body.
 */
import type { ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';

export interface RelayCallbacks {
  /**
   * The upstream answered: write the response head (or refuse) and say whether to stream the
   * body. `rawHeaders` are latin1 strings, name and value alternating.
   */
  onResponse(status: number, statusText: string, rawHeaders: string[]): boolean;
  /** Failed before any response head arrived. `retryable`: no byte of the response was seen and the request had no body. */
  onFailure(err: Error & { code?: string }, retryable: boolean): void;
}

export function createUpstreamAgent(connectTimeoutMs: number, idleTimeoutMs: number): Agent {
  return new Agent({
    // Connections are keyed by origin = the checked address: a pooled socket always goes where the guard said.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: idleTimeoutMs,
    headersTimeout: idleTimeoutMs,
    bodyTimeout: idleTimeoutMs,
    connect: { timeout: connectTimeoutMs },
  });
}

export class RelayHandler implements Dispatcher.DispatchHandler {
  private abortFn: ((err?: Error) => void) | undefined;
  private responded = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly hasBody: boolean,
    private readonly callbacks: RelayCallbacks,
  ) {}

  /** Cancels the upstream exchange (the client went away, or policy refused the response). */
  abort(): void {
    this.done = true;
    this.abortFn?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.done || this.res.destroyed) abort();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.done) return false;
    this.responded = true;
    const raw = new Array<string>(headers.length);
    for (let i = 0; i < headers.length; i++) raw[i] = headers[i].toString('latin1');
    if (!this.callbacks.onResponse(statusCode, statusText, raw)) {
      this.abort();
      return false;
    }
    this.res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.done = true;
    this.res.end();
  }

  onError(err: Error & { code?: string }): void {
    if (this.done) return;
    this.done = true;
    if (this.responded) {
      // Mid-body: the client must not mistake a truncated body for a complete one.
      this.res.destroy();
      return;
    }
    this.callbacks.onFailure(err, !this.hasBody);
  }
}

/** Status and words for an upstream failure before any response. */
export function upstreamFailure(err: Error & { code?: string }): { status: 502 | 504; why: string } {
  const code = err.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') {
    return { status: 504, why: 'timed out' };
  }
  const cause = (err as { cause?: { code?: string } }).cause;
  return { status: 502, why: `failed: ${cause?.code ?? (code || err.message)}` };
}
