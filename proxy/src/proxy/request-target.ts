/**
 * Parsing of what a client asks the proxy for: the absolute-form URI of a forward request
 * (`GET http://host/path`) and the authority of a CONNECT (`host:port`). Anything odd is refused
 * here, before policy, so that what the policy judges is exactly what gets dialled.
 */

export interface Target {
  scheme: 'http' | 'https';
  /** Host name or IP, lower-case, without IPv6 brackets. */
  host: string;
  port: number;
  /** Normalised path and query (`/a?b`); empty for CONNECT. */
  path: string;
  /** The Host header value to send upstream (`name[:port]`, brackets for IPv6). */
  authority: string;
  /** What the access record and block page call it: the URL, or `host:port` for CONNECT. */
  display: string;
}

export class TargetError extends Error {}

const NAME = /^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$/;
const IPV6 = /^[0-9a-f:.]+$/;
/** `Host` header syntax: a name or bracketed IPv6 literal, with an optional port. */
const HOST_HEADER = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function isValidHostHeader(value: string): boolean {
  return value.length <= 261 && HOST_HEADER.test(value);
}

function checkHost(host: string, what: string): string {
  const h = host.toLowerCase();
  if (h.length === 0 || h.length > 253) throw new TargetError(`${what}: host name is empty or too long`);
  if (h.includes(':')) {
    if (!IPV6.test(h)) throw new TargetError(`${what}: "${host}" is not a valid IPv6 address`);
  } else if (!NAME.test(h)) {
    throw new TargetError(`${what}: "${host}" is not a valid host name`);
  }
  return h;
}

function checkPort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new TargetError(`${what}: port "${text}" is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new TargetError(`${what}: port ${port} is out of range`);
  return port;
}

/** Parses the request-target of a forward request; throws `TargetError` with a client-facing reason. */
export function parseAbsoluteTarget(requestTarget: string): Target {
  if (!/^https?:\/\//i.test(requestTarget)) {
    throw new TargetError(
      requestTarget.startsWith('/')
        ? 'this is a proxy: send the absolute URL (GET http://host/path), or use CONNECT for HTTPS'
        : `unsupported request target "${requestTarget.slice(0, 100)}": only http:// and https:// URLs are proxied`,
    );
  }
  let url: URL;
  try {
    url = new URL(requestTarget);
  } catch {
    throw new TargetError(`malformed URL "${requestTarget.slice(0, 200)}"`);
  }
  if (url.username || url.password) throw new TargetError('URLs with credentials (user:pass@host) are refused');
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const bracketed = url.hostname.startsWith('[');
  const host = checkHost(bracketed ? url.hostname.slice(1, -1) : url.hostname, 'URL');
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  const path = url.pathname + url.search;
  return { scheme, host, port, path, authority: url.host, display: `${scheme}://${url.host}${path}` };
}

/** Parses a CONNECT authority (`host:port`, `[v6]:port`); the port is required. */
export function parseConnectTarget(authority: string): Target {
  const what = 'CONNECT target';
  let hostText: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end === -1 || authority[end + 1] !== ':') throw new TargetError(`${what} "${authority}" must be [address]:port`);
    hostText = authority.slice(1, end);
    portText = authority.slice(end + 2);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon <= 0) throw new TargetError(`${what} "${authority}" must be host:port`);
    hostText = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
    if (hostText.includes(':')) throw new TargetError(`${what} "${authority}": IPv6 addresses need brackets`);
  }
  const host = checkHost(hostText, what);
  const port = checkPort(portText, what);
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { scheme: 'https', host, port, path: '', authority: shown, display: shown };
}
