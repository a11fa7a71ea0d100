/**
 * Forwarding rules both request paths apply (node:http in proxy-server.ts, raw sockets in
 * fast-path.ts), in one place so that the two cannot drift apart.
 */

/**
 * Request fields not passed on as they came: the slave writes `Host` from the target it checked
 * and appends the client to `X-Forwarded-For`.
 */
export const DROP_ON_REQUEST: readonly string[] = ['host', 'x-forwarded-for'];

/**
 * Methods a request may be sent again with, on a new connection, when the pooled one it went out
 * on turned out to be closed by the upstream (RFC 9110 §9.2.2).
 */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
