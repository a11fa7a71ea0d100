/**
 * Parsing of what a client asks the proxy for: the absolute-form URI of a forward request
 * (`GET http://host/path`) and the authority of a CONNECT (`host:port`). Anything odd is refused
 * here, before policy, so that what the policy judges is exactly what gets dialled and forwarded.
 * The path is normalised as `policy/url-path.ts` says (repeated slashes collapsed before dot segments
 * are removed, as nginx's merge_slashes does; unreserved escapes decoded once; `%00` and malformed
 * escapes in the path refused).
 */
import { collapseSlashes, normaliseEscapes, PathError } from '../policy/url-path.js';
import { TargetError } from '../errors.js';
export { TargetError };

export interface Target {
  scheme: 'http' | 'https';
  /** Host name or IP, lower-case, without IPv6 brackets. */
  host: string;
  port: number;
  /** Normalised path and query (`/a?b`), exactly as forwarded; empty for CONNECT. */
  path: string;
  /** The Host header value to send upstream (`name[:port]`, brackets for IPv6). */
  authority: string;
  /** What the access record and block page call it: the URL, or `host:port` for CONNECT. */
  display: string;
}

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
  return plainHttpTarget(requestTarget) ?? parseWithUrl(requestTarget);
}

/** The WHATWG URL parser: normalises every form (dot segments, numeric IPv4, IDNA, default ports). */
export function parseWithUrl(requestTarget: string): Target {
  if (!/^https?:\/\//i.test(requestTarget)) {
    throw new TargetError(
      requestTarget.startsWith('/')
        ? 'this is a proxy: send the absolute URL (GET http://host/path), or use CONNECT for HTTPS'
        : `unsupported request target "${requestTarget.slice(0, 100)}": only http:// and https:// URLs are proxied`,
    );
  }
  let url: URL;
  try {
    url = new URL(collapseTargetSlashes(requestTarget));
  } catch {
    throw new TargetError(`malformed URL "${requestTarget.slice(0, 200)}"`);
  }
  if (url.username || url.password) throw new TargetError('URLs with credentials (user:pass@host) are refused');
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const bracketed = url.hostname.startsWith('[');
  const host = checkHost(bracketed ? url.hostname.slice(1, -1) : url.hostname, 'URL');
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  const path = normalisedPath(url.pathname) + normaliseEscapes(url.search, false);
  return { scheme, host, port, path, authority: url.host, display: `${scheme}://${url.host}${path}` };
}

function normalisedPath(pathname: string): string {
  try {
    return collapseSlashes(normaliseEscapes(pathname, true));
  } catch (err) {
    if (err instanceof PathError) throw new TargetError(err.message);
    throw err;
  }
}

/** `//` runs in the path (before `?`/`#`) as one `/` before the URL parser removes dot segments. */
function collapseTargetSlashes(t: string): string {
  const start = t.indexOf('//') + 2;
  const authorityEnd = t.slice(start).search(/[/\\?#]/);
  if (authorityEnd === -1) return t;
  const pathStart = start + authorityEnd;
  const rest = t.slice(pathStart);
  const end = rest.search(/[?#]/);
  const path = end === -1 ? rest : rest.slice(0, end);
  const collapsed = collapseSlashes(path);
  return collapsed === path ? t : t.slice(0, pathStart) + collapsed + (end === -1 ? '' : rest.slice(end));
}

/** Host bytes the URL parser leaves as they are: lower-case letters, digits, `-`, `.`, `_`. */
const PLAIN_HOST = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789-._') PLAIN_HOST[c.charCodeAt(0)] = 1;
/** Path and query bytes the URL parser leaves as they are (no `#`, `\\`, brackets, quotes or spaces). */
const PLAIN_PATH = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?@!$&()*+,;=%')
  PLAIN_PATH[c.charCodeAt(0)] = 1;

/** A canonical dotted quad (no leading zeros, each part up to 255): the URL parser keeps it as written. */
function isCanonicalIpv4(host: string): boolean {
  let parts = 0;
  let start = 0;
  for (let i = 0; i <= host.length; i++) {
    if (i < host.length && host.charCodeAt(i) !== 46) continue;
    const n = i - start;
    if (n === 0 || n > 3 || (n > 1 && host.charCodeAt(start) === 48)) return false;
    let v = 0;
    for (let j = start; j < i; j++) {
      const d = host.charCodeAt(j) - 48;
      if (d < 0 || d > 9) return false;
      v = v * 10 + d;
    }
    if (v > 255) return false;
    parts++;
    start = i + 1;
  }
  return parts === 4;
}

/** The URL parser reads a host whose last label is numeric (or 0x...) as an IPv4 address. */
function endsInNumber(host: string): boolean {
  let end = host.length;
  if (host.charCodeAt(end - 1) === 46) end--;
  const start = host.lastIndexOf('.', end - 1) + 1;
  if (start >= end) return false;
  if (host.startsWith('0x', start)) return true;
  for (let i = start; i < end; i++) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The common `http://name[:port]/path?query` without anything the URL parser would rewrite, parsed
 * without building a URL (a large object) per request: it gives exactly what `parseWithUrl` gives
 * (the unit test compares them), or undefined for anything else.
 */
export function plainHttpTarget(t: string): Target | undefined {
  if (!t.startsWith('http://')) return undefined;
  let i = 7;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 128 || PLAIN_HOST[c] !== 1) break;
  }
  const hostEnd = i;
  if (hostEnd === 7) return undefined;
  const host = t.slice(7, hostEnd);
  if (host.includes('xn--') || (endsInNumber(host) && !isCanonicalIpv4(host))) return undefined;
  let port = 80;
  let authority = host;
  if (t.charCodeAt(i) === 58) {
    const ps = ++i;
    port = 0;
    for (; i < t.length && i - ps < 6; i++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      port = port * 10 + d;
    }
    // Empty, zero-padded or out-of-range ports are left to the URL parser (and its errors).
    if (i === ps || t.charCodeAt(ps) === 48 || port > 65535) return undefined;
    if (port !== 80) authority = t.slice(7, i);
  }
  if (i === t.length) {
    return {
      scheme: 'http',
      host: checkHost(host, 'URL'),
      port,
      path: '/',
      authority,
      display: `http://${authority}/`,
    };
  }
  if (t.charCodeAt(i) !== 47) return undefined;
  const pathStart = i;
  let query = -1;
  let queryEscapes = false;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 128 || PLAIN_PATH[c] !== 1) return undefined;
    if (c === 63 && query === -1) query = i;
    else if (c === 37) {
      // Escapes in the path (rare) are left to the full parser; in the query they are normalised here.
      if (query === -1) return undefined;
      queryEscapes = true;
    }
    // Dot segments and repeated slashes are resolved by the full parser.
    else if (query === -1 && (c === 46 || c === 47) && t.charCodeAt(i - 1) === 47) return undefined;
  }
  // An empty query ("/p?") disappears in the URL parser.
  if (query === t.length - 1) return undefined;
  const path = queryEscapes ? t.slice(pathStart, query) + normaliseEscapes(t.slice(query), false) : t.slice(pathStart);
  // The target is its own display form unless a default port was dropped from it or the query changed.
  const display = pathStart === 7 + authority.length && !queryEscapes ? t : `http://${authority}${path}`;
  return { scheme: 'http', host: checkHost(host, 'URL'), port, path, authority, display };
}

/** Parses a CONNECT authority (`host:port`, `[v6]:port`); the port is required. */
export function parseConnectTarget(authority: string): Target {
  const what = 'CONNECT target';
  let hostText: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end === -1 || authority[end + 1] !== ':')
      throw new TargetError(`${what} "${authority}" must be [address]:port`);
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
