/**
 * The SSRF guard: a destination is resolved once, every resolved address is checked, and the
 * caller dials exactly the address that was checked (never the name again), so a DNS answer
 * that changes between check and connect cannot smuggle the proxy into an internal network.
 */
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { CidrSet, formatIp, parseIp, type ParsedIp } from '../policy/cidr.js';

/** Address ranges the proxy refuses to dial unless the policy's `ssrf.allowRanges` opens them. */
const BLOCKED_RANGES: ReadonlyArray<readonly [reason: string, cidrs: readonly string[]]> = [
  ['unspecified address', ['0.0.0.0/8', '::/128']],
  ['loopback address', ['127.0.0.0/8', '::1/128']],
  ['link-local address (cloud metadata lives here)', ['169.254.0.0/16', 'fe80::/10']],
  ['private address', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fec0::/10']],
  ['carrier-grade NAT address', ['100.64.0.0/10']],
  ['multicast address', ['224.0.0.0/4', 'ff00::/8']],
  ['reserved address', ['192.0.0.0/24', '198.18.0.0/15', '240.0.0.0/4', '100::/64']],
  ['IPv4-compatible IPv6 address', ['::/96']],
];

const LOOPBACK = new CidrSet(['127.0.0.0/8', '::1/128']);
const ALL_BLOCKED = new CidrSet(BLOCKED_RANGES.flatMap(([, cidrs]) => cidrs));
const BY_REASON = BLOCKED_RANGES.map(([reason, cidrs]) => [reason, new CidrSet(cidrs)] as const);

/**
 * IPv6 forms that carry or translate to an IPv4 address; each is refused when the IPv4 address
 * inside is (a translator or relay would deliver the connection there):
 * - IPv4-mapped `::ffff:0:0/96`: `parseIp` turns it into the IPv4 address itself.
 * - IPv4-compatible `::/96` (deprecated, RFC 4291 §2.5.5.1): refused whatever the IPv4 (`BLOCKED_RANGES`).
 * - SIIT IPv4-translated `::ffff:0:0:0/96` (RFC 2765): the low 32 bits.
 * - NAT64 well-known prefix `64:ff9b::/96` (RFC 6052): the low 32 bits.
 * - Local-use NAT64 `64:ff9b:1::/48` (RFC 8215): the operator picks a prefix of 48, 56, 64 or 96
 *   bits inside it, so every RFC 6052 position for those lengths is checked; any blocked one refuses
 *   (positions that read as 0.0.0.0/8 are another length's zero padding and are skipped).
 * - 6to4 `2002::/16` (RFC 3056): bits 16-47. Teredo `2001::/32` (RFC 4380): the client's address,
 *   inverted, in the low 32 bits. ISATAP interface ids (`::0:5efe:a.b.c.d`, `::200:5efe:...`, RFC 5214)
 *   under any prefix: the low 32 bits.
 */
const SIIT = new CidrSet(['::ffff:0:0:0/96']);
const NAT64 = new CidrSet(['64:ff9b::/96']);
const LOCAL_NAT64 = new CidrSet(['64:ff9b:1::/48']);
const SIX_TO_FOUR = new CidrSet(['2002::/16']);
const TEREDO = new CidrSet(['2001::/32']);

const v4 = (value: bigint): ParsedIp => ({ version: 4, value: Number(value & 0xffffffffn) >>> 0 });

function embeddedIpv4(ip: ParsedIp): { form: string; v4: ParsedIp }[] {
  if (ip.version !== 6) return [];
  const x = ip.value;
  if (SIIT.hasParsed(ip)) return [{ form: 'SIIT', v4: v4(x) }];
  if (NAT64.hasParsed(ip)) return [{ form: 'NAT64', v4: v4(x) }];
  if (LOCAL_NAT64.hasParsed(ip)) {
    // RFC 6052 §2.2: bits 64-71 (the u octet) never carry address bits. A position that reads as
    // 0.0.0.0/8 is the zero padding of another prefix length (no translator delivers to 0/8).
    return [
      { form: 'local-use NAT64 (/48)', v4: v4((((x >> 64n) & 0xffffn) << 16n) | ((x >> 40n) & 0xffffn)) },
      { form: 'local-use NAT64 (/56)', v4: v4((((x >> 64n) & 0xffn) << 24n) | ((x >> 32n) & 0xffffffn)) },
      { form: 'local-use NAT64 (/64)', v4: v4(x >> 24n) },
      { form: 'local-use NAT64 (/96)', v4: v4(x) },
    ].filter((c) => Number(c.v4.value) >>> 24 !== 0);
  }
  if (SIX_TO_FOUR.hasParsed(ip)) return [{ form: '6to4', v4: v4(x >> 80n) }];
  // RFC 4380: the client's IPv4 address is stored inverted in the low 32 bits.
  if (TEREDO.hasParsed(ip)) return [{ form: 'Teredo', v4: v4(~x) }];
  if (((x >> 32n) & 0xfdffffffn) === 0x5efen) return [{ form: 'ISATAP', v4: v4(x) }];
  return [];
}

/** Why `ip` is refused by the built-in list, or undefined if it is a public address. */
export function blockedReason(ip: ParsedIp): string | undefined {
  if (ALL_BLOCKED.hasParsed(ip)) {
    for (const [reason, set] of BY_REASON) if (set.hasParsed(ip)) return reason;
  }
  for (const inner of embeddedIpv4(ip)) {
    const innerReason = blockedReason(inner.v4);
    if (innerReason) return `${inner.form} form of a ${innerReason} (${formatIp(inner.v4)})`;
  }
  return undefined;
}

export interface Endpoint {
  address: string;
  port: number;
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

export type GuardVerdict =
  | { ok: true; address: string; family: 4 | 6 }
  | { ok: false; status: 403 | 502; reason: string };

const DNS_CACHE_TTL_MS = 5_000;
const DNS_CACHE_MAX = 10_000;
/** How long an address that refused a connection is passed over when its host has others. */
const UNREACHABLE_MS = 30_000;

/** Connection errors that mean nothing reached the address: another address of the host may work. */
const DIAL_FAILURES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
]);
/** Most other addresses one request tries after its first dial failed. */
export const MAX_REDIALS = 3;

/** The policy's exceptions to the built-in deny list (`accessRestriction.ssrf.allowRanges`). */
export interface SsrfExceptions {
  isSsrfAllowed(ip: string): boolean;
}

export interface SsrfGuardOptions {
  /** The proxy's own listening endpoints (incl. metrics), never dialled: that would loop. */
  ownEndpoints: () => readonly Endpoint[];
  resolver?: Resolver;
}

/**
 * One resolved (or literal) address, judged once when it enters the cache: its canonical text, the
 * verdict to hand out when it is the one dialled, and why the built-in list refuses it, if it does.
 */
type Classified =
  | { valid: true; address: string; family: 4 | 6; reason: string | undefined; verdict: GuardVerdict }
  | { valid: false; address: string };

function classify(address: string): Classified {
  const parsed = parseIp(address);
  if (!parsed) return { valid: false, address };
  const text = formatIp(parsed);
  return {
    valid: true,
    address: text,
    family: parsed.version,
    reason: blockedReason(parsed),
    verdict: { ok: true, address: text, family: parsed.version },
  };
}

export class SsrfGuard {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, { expires: number; addresses: Classified[] }>();
  /** IP literals seen as destinations: their classification never expires. */
  private readonly literals = new Map<string, Classified[]>();
  private localAddresses: Set<string> | undefined;
  /** Address → until when it is passed over (dial failures). Empty in normal operation. */
  private readonly unreachable = new Map<string, number>();

  constructor(private readonly opts: SsrfGuardOptions) {
    this.resolver = opts.resolver ?? ((host) => lookup(host, { all: true, verbatim: true }));
  }

  /**
   * Resolves `host` (once; a short cache spares the resolver on keep-alive bursts), checks every
   * address, and returns the one to dial. `policy.isSsrfAllowed` is the policy's `ssrf.allowRanges`.
   * Synchronous for IP literals and cached names: the request path then takes no extra turn.
   */
  check(host: string, port: number, policy: SsrfExceptions): GuardVerdict | Promise<GuardVerdict> {
    const literal = this.literals.get(host) ?? this.literal(host);
    if (literal) return this.judge(host, port, literal, policy);
    const key = host.toLowerCase();
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) return this.judge(host, port, hit.addresses, policy);
    return this.resolver(key).then(
      (answers) => {
        if (this.cache.size >= DNS_CACHE_MAX) this.cache.clear();
        const addresses = answers.map((a) => classify(a.address));
        this.cache.set(key, { expires: Date.now() + DNS_CACHE_TTL_MS, addresses });
        return this.judge(host, port, addresses, policy);
      },
      (err: NodeJS.ErrnoException): GuardVerdict => ({
        ok: false,
        status: 502,
        reason: `cannot resolve ${host}: ${err.code ?? String(err)}`,
      }),
    );
  }

  /**
   * A connection to `address` failed with `code`. When that means nothing reached it (refused,
   * unreachable, timed out), checks of a host with other addresses hand out one of those for a
   * while, and the answer is true: the caller may check again at once and dial the next one.
   */
  dialFailed(address: string, code: string | undefined): boolean {
    if (!DIAL_FAILURES.has(code ?? '')) return false;
    if (this.unreachable.size >= DNS_CACHE_MAX) this.unreachable.clear();
    this.unreachable.set(address, Date.now() + UNREACHABLE_MS);
    return true;
  }

  private isUnreachable(address: string): boolean {
    const until = this.unreachable.get(address);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.unreachable.delete(address);
    return false;
  }

  private literal(host: string): Classified[] | undefined {
    if (!parseIp(host)) return undefined;
    if (this.literals.size >= DNS_CACHE_MAX) this.literals.clear();
    const classified = [classify(host)];
    this.literals.set(host, classified);
    return classified;
  }

  private judge(host: string, port: number, addresses: readonly Classified[], policy: SsrfExceptions): GuardVerdict {
    if (addresses.length === 0) return { ok: false, status: 502, reason: `cannot resolve ${host}: no addresses` };
    let chosen: (Classified & { valid: true }) | undefined;
    let chosenRank = 4;
    const avoid = this.unreachable.size > 0;
    const own = this.opts.ownEndpoints();
    for (const a of addresses) {
      if (!a.valid)
        return { ok: false, status: 502, reason: `resolver returned a non-address "${a.address}" for ${host}` };
      if (this.isOwnEndpoint(own, a.address, port)) {
        return { ok: false, status: 403, reason: `${host} resolves to ${a.address}:${port}, the proxy itself` };
      }
      if (a.reason && !policy.isSsrfAllowed(a.address)) {
        return { ok: false, status: 403, reason: `${host} resolves to ${a.address}, a ${a.reason}` };
      }
      // Reachable first, then IPv4 first: many networks resolve AAAA without routing IPv6.
      const rank = (avoid && this.isUnreachable(a.address) ? 2 : 0) + (a.family === 6 ? 1 : 0);
      if (rank < chosenRank) {
        chosen = a;
        chosenRank = rank;
      }
    }
    return chosen!.verdict;
  }

  private isOwnEndpoint(own: readonly Endpoint[], ip: string, port: number): boolean {
    for (const ep of own) {
      if (ep.port !== port) continue;
      const listen = parseIp(ep.address);
      if (!listen) continue;
      const listenText = formatIp(listen);
      if (listenText === ip) return true;
      // A wildcard listener answers on every local address.
      if (listenText === '0.0.0.0' || listenText === '::') {
        if (this.local().has(ip) || LOOPBACK.has(ip)) return true;
      }
    }
    return false;
  }

  private local(): Set<string> {
    if (!this.localAddresses) {
      const set = new Set<string>(['127.0.0.1', '::1', '0.0.0.0', '::']);
      for (const list of Object.values(networkInterfaces())) {
        for (const info of list ?? []) {
          const parsed = parseIp(info.address);
          if (parsed) set.add(formatIp(parsed));
        }
      }
      this.localAddresses = set;
    }
    return this.localAddresses;
  }
}
