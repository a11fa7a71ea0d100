import { PathError } from '../errors.js';
export { PathError };
/**
 * URL path normalisation (RFC 3986 §6.2.2), so that URL conditions judge the path an upstream will
 * serve, and an encoding trick (`/%73ecret`, `//secret`, `/a/../secret`) cannot walk past a rule.
 *
 * Two forms:
 * - `normaliseEscapes` gives the path the slave forwards: percent-encoded unreserved characters
 *   (`A-Z a-z 0-9 - . _ ~`) decoded, every other escape upper-cased (`%2f` → `%2F`). It decodes once:
 *   `%25` is not unreserved, so `%2573` stays `%2573` however often it runs (it is idempotent).
 * - `matchingPath` gives what URL conditions see. Over the forwarded form it also reads encoded
 *   slashes (`%2F`, and `%5C`, a separator on Windows servers) as `/` and drops `;params` from each
 *   segment, then collapses slashes and removes dot segments again: the way upstreams that decode
 *   `%2F` (nginx, static file servers) or strip path parameters (Tomcat: `/public/..;/secret`) read it.
 *   Encoded slashes stay encoded in what is forwarded: APIs put them inside one segment (`group%2Fproject`).
 *
 * Dot segments (`.`, `..`, `%2e`) and backslashes in the request target are resolved by the URL
 * parser before this runs (`proxy/request-target.ts`), after `collapseSlashes`.
 */

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

/**
 * Decodes percent-encoded unreserved characters once and upper-cases the hex of the others.
 * `strict` (the path): `%00` and escapes that are not `%` + two hex digits throw `PathError`;
 * otherwise (the query, or a path already checked) they are kept as they are.
 */
export function normaliseEscapes(s: string, strict: boolean): string {
  let i = s.indexOf('%');
  if (i === -1) return s;
  let out = s.slice(0, i);
  let from = i;
  for (; i < s.length; i++) {
    if (s.charCodeAt(i) !== 37) continue;
    const hi = hexValue(s.charCodeAt(i + 1));
    const lo = hexValue(s.charCodeAt(i + 2));
    if (hi === -1 || lo === -1) {
      if (strict) throw new PathError(`malformed percent-encoding "${s.slice(i, i + 3)}" in the URL path`);
      continue;
    }
    const v = hi * 16 + lo;
    if (v === 0 && strict) throw new PathError('an encoded NUL (%00) in the URL path is refused');
    out += s.slice(from, i);
    out += isUnreserved(v) ? String.fromCharCode(v) : `%${HEX[hi]}${HEX[lo]}`;
    i += 2;
    from = i + 1;
  }
  return out + s.slice(from);
}

/** Runs of `/` (and `\`, which http(s) URLs read as `/`) as one `/`. */
export function collapseSlashes(path: string): string {
  return /[/\\]{2}/.test(path) ? path.replace(/[/\\]{2,}/g, '/') : path;
}

/** RFC 3986 §5.2.4 on a path that starts with `/` (dot segments are whole segments only). */
export function removeDotSegments(path: string): string {
  if (!/(^|\/)\.\.?(\/|$)/.test(path)) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (seg === '..') {
      if (out.length > 0) out.pop();
      if (last) out.push('');
    } else if (seg === '.') {
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

const SLASH_OR_PARAM = /%2F|%5C|;/i;

/**
 * What URL conditions match: `pathAndQuery` (`/a/b?c`, as `RequestContext.path`) normalised, with
 * encoded slashes read as `/` and `;params` dropped from the path. The query is matched as it is
 * forwarded (escapes normalised). Empty stays empty (CONNECT has no path).
 */
export function matchingPath(pathAndQuery: string): string {
  if (pathAndQuery === '') return pathAndQuery;
  const q = pathAndQuery.indexOf('?');
  const rawPath = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q === -1 ? '' : normaliseEscapes(pathAndQuery.slice(q), false);
  let path = removeDotSegments(collapseSlashes(normaliseEscapes(rawPath, false)));
  if (SLASH_OR_PARAM.test(path)) {
    path = path.replace(/%2F|%5C/gi, '/').replace(/;[^/]*/g, '');
    path = removeDotSegments(collapseSlashes(path));
  }
  if (!path.startsWith('/')) path = `/${path}`;
  return path + query;
}
