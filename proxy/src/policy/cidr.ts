/**
 * IP addresses and CIDR sets, shared by the policy engine (rule `sources`, allowed clients)
 * and the slave's SSRF guard. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are normalised to
 * IPv4 everywhere, so a dual-stack socket's `::ffff:` client address matches an IPv4 CIDR.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { CidrParseError } from '../errors.js';
export { CidrParseError };

export type ParsedIp = { version: 4; value: number } | { version: 6; value: bigint };

const V4_MAPPED_PREFIX = 0xffffn << 32n;
const V6_MAX = (1n << 128n) - 1n;

function parseV4(text: string): number {
  const parts = text.split('.');
  let value = 0;
  for (const part of parts) value = value * 256 + Number(part);
  return value;
}

function parseV6(text: string): bigint {
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.split('::') as [string, string | undefined];
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(right === undefined ? 0 : missing).fill('0'), ...rightGroups];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | BigInt(tailV4);
  return value;
}

/** Strips brackets and an IPv6 zone id (`[fe80::1%eth0]` → `fe80::1`). */
function bare(ip: string): string {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  return zone === -1 ? s : s.slice(0, zone);
}

/** Dotted-quad IPv4 without leading zeros (as `isIPv4` accepts), or -1: the common case, without a regex. */
function fastV4(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/**
 * IPv6 parsing goes through node's validation regex and BigInt arithmetic (~1 µs); clients and
 * resolved addresses repeat, so results are kept, up to a bound (then the cache starts over).
 */
const slowPathCache = new Map<string, ParsedIp | undefined>();
const SLOW_PATH_CACHE_LIMIT = 4096;

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 comes back as IPv4. Undefined if not an IP. */
export function parseIp(ip: string): ParsedIp | undefined {
  const v4 = fastV4(ip);
  if (v4 !== -1) return { version: 4, value: v4 };
  const cached = slowPathCache.get(ip);
  if (cached !== undefined || slowPathCache.has(ip)) return cached && { ...cached };
  if (slowPathCache.size >= SLOW_PATH_CACHE_LIMIT) slowPathCache.clear();
  const parsed = parseSlowPath(ip);
  slowPathCache.set(ip, parsed);
  return parsed && { ...parsed };
}

function parseSlowPath(ip: string): ParsedIp | undefined {
  const s = bare(ip);
  if (isIPv4(s)) return { version: 4, value: parseV4(s) };
  if (!isIPv6(s)) return undefined;
  const value = parseV6(s);
  if (value >> 32n === 0xffffn) return { version: 4, value: Number(value & 0xffffffffn) };
  return { version: 6, value };
}

/** Canonical text of an address (`::ffff:10.0.0.1` → `10.0.0.1`, IPv6 compressed lower-case). */
export function formatIp(ip: ParsedIp): string {
  if (ip.version === 4) {
    const v = ip.value;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Normalised text of an address, or undefined if `ip` is not one. */
export function normalizeIp(ip: string): string | undefined {
  const parsed = parseIp(ip);
  return parsed && formatIp(parsed);
}

export interface CidrRange {
  version: 4 | 6;
  /** First and last address, inclusive. */
  first: bigint;
  last: bigint;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128). Throws `CidrParseError`. */
export function parseCidr(cidr: string): CidrRange {
  if (typeof cidr !== 'string') throw new CidrParseError(String(cidr), 'not a string');
  const slash = cidr.indexOf('/');
  const addrText = slash === -1 ? cidr.trim() : cidr.slice(0, slash).trim();
  const prefixText = slash === -1 ? undefined : cidr.slice(slash + 1).trim();
  if (addrText.includes('%')) throw new CidrParseError(cidr, 'zone ids are not allowed in a CIDR');
  const isV4 = isIPv4(addrText);
  if (!isV4 && !isIPv6(addrText)) throw new CidrParseError(cidr, `"${addrText}" is not an IPv4 or IPv6 address`);
  const bits = isV4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      throw new CidrParseError(cidr, `prefix length must be an integer from 0 to ${bits}`);
    }
    prefix = Number(prefixText);
  }
  const address = isV4 ? BigInt(parseV4(addrText)) : parseV6(addrText);
  const hostBits = BigInt(bits - prefix);
  const hostMask = (1n << hostBits) - 1n;
  const first = address & ~hostMask & (isV4 ? 0xffffffffn : V6_MAX);
  return { version: isV4 ? 4 : 6, first, last: first | hostMask };
}

function merge<T extends number | bigint>(ranges: [T, T][]): { starts: T[]; ends: T[] } {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const starts: T[] = [];
  const ends: T[] = [];
  for (const [s, e] of ranges) {
    const n = ends.length;
    // Adjacent or overlapping ranges fold into one; `+ 1` on the end works for both number and bigint.
    if (n > 0 && s <= ((typeof e === 'bigint' ? (ends[n - 1] as bigint) + 1n : (ends[n - 1] as number) + 1) as T)) {
      if (e > ends[n - 1]) ends[n - 1] = e;
    } else {
      starts.push(s);
      ends.push(e);
    }
  }
  return { starts, ends };
}

function lookup<T extends number | bigint>(starts: T[], ends: T[], v: T): boolean {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (v < starts[mid]) hi = mid - 1;
    else if (v > ends[mid]) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * A set of CIDR ranges with O(log n) membership. IPv6 ranges that cover IPv4-mapped space
 * (`::ffff:0:0/96` or any part of it, `::/0`) also match the equivalent IPv4 addresses.
 */
export class CidrSet {
  readonly cidrs: readonly string[];
  private readonly v4: { starts: number[]; ends: number[] };
  private readonly v6: { starts: bigint[]; ends: bigint[] };

  /** Throws `CidrParseError` naming the first bad value. */
  constructor(cidrs: Iterable<string>) {
    this.cidrs = [...cidrs];
    const v4: [number, number][] = [];
    const v6: [bigint, bigint][] = [];
    for (const cidr of this.cidrs) {
      const r = parseCidr(cidr);
      if (r.version === 4) {
        v4.push([Number(r.first), Number(r.last)]);
        continue;
      }
      v6.push([r.first, r.last]);
      const mappedFirst = V4_MAPPED_PREFIX;
      const mappedLast = V4_MAPPED_PREFIX | 0xffffffffn;
      const lo = r.first > mappedFirst ? r.first : mappedFirst;
      const hi = r.last < mappedLast ? r.last : mappedLast;
      if (lo <= hi) v4.push([Number(lo & 0xffffffffn), Number(hi & 0xffffffffn)]);
    }
    this.v4 = merge(v4);
    this.v6 = merge(v6);
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** False for anything that is not an IP address. */
  has(ip: string): boolean {
    const parsed = parseIp(ip);
    return parsed !== undefined && this.hasParsed(parsed);
  }

  hasParsed(ip: ParsedIp): boolean {
    return ip.version === 4
      ? lookup(this.v4.starts, this.v4.ends, ip.value)
      : lookup(this.v6.starts, this.v6.ends, ip.value);
  }
}
