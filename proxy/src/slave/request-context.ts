/**
 * What the handlers of one exchange on node:http's paths share, in one object instead of a row of
 * positional arguments: the transport it arrived on, its access record, and what was decided
 * about it as it went (the target once parsed, the admission once granted).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Admitted } from './admission.js';
import type { Exchange } from './exchange.js';
import type { Target } from './request-target.js';

/** An absolute-form request (or one inside a plain-HTTP tunnel) answered through node:http. */
export class RequestContext {
  /** Set once the request line parsed; refusals before that name the raw URL. */
  target: Target | undefined = undefined;
  /** Set once policy, authentication and the SSRF guard admitted the request. */
  admitted: Admitted | undefined = undefined;
  /** Already sent again once after the pooled upstream connection turned out closed. */
  retried = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly ex: Exchange,
  ) {}
}

/**
 * A CONNECT tunnel until its upstream connection is established. Nothing holds it afterwards:
 * an open tunnel keeps only its sockets and its exchange.
 */
export class TunnelContext {
  target: Target | undefined = undefined;
  admitted: Admitted | undefined = undefined;
  /** Other addresses of the host dialled after the first failed. */
  redials = 0;
  /** The client's bytes read before the CONNECT head: the tunnel's bytes up are counted from here. */
  readonly startRead: number;

  constructor(
    readonly socket: Socket,
    /** Bytes the client sent after the CONNECT head, for the upstream once it is connected. */
    public head: Buffer | undefined,
    readonly ex: Exchange,
  ) {
    this.startRead = socket.bytesRead;
  }
}
