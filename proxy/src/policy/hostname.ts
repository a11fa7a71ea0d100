/**
 * Host names as the engine compares them: lower-case, no trailing dot, IDN as punycode
 * (`bücher.example` → `xn--bcher-kva.example`), IPv6 literals without brackets and in
 * canonical form. Rules, categories and requests all go through the same function, so a
 * pattern written in Unicode matches a request written in punycode and the other way round.
 */
import { domainToASCII } from 'node:url';
import { normalizeIp } from './cidr.js';

/** True for hosts already in normal form; most requests take this path and skip the IDN work. */
function isPlainLowerAscii(host: string): boolean {
  const n = host.length;
  if (n === 0 || host.charCodeAt(n - 1) === 46 /* . */) return false;
  for (let i = 0; i < n; i++) {
    const c = host.charCodeAt(i);
    // a-z, 0-9, '-', '.', '_'
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95)) return false;
  }
  return true;
}

/**
 * Normal form of a request's host. A host that is neither a valid domain nor an IP comes back
 * lower-cased without trailing dots, so it still matches nothing it should not.
 */
export function normalizeHost(host: string): string {
  if (isPlainLowerAscii(host)) return host;
  let h = host.trim();
  if (h.startsWith('[') || h.includes(':')) {
    const ip = normalizeIp(h);
    if (ip !== undefined) return ip;
  }
  while (h.endsWith('.')) h = h.slice(0, -1);
  h = h.toLowerCase();
  if (isPlainLowerAscii(h)) return h;
  const ascii = domainToASCII(h);
  return ascii === '' ? h : ascii;
}

/** Lower-case LDH labels (underscore allowed, as in `_dmarc`), 1–63 characters, no leading or trailing '-'. */
export function isValidHostname(host: string): boolean {
  const n = host.length;
  if (n === 0 || n > 253) return false;
  let labelStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : host.charCodeAt(i);
    if (c === 46 /* . */) {
      const len = i - labelStart;
      if (len === 0 || len > 63 || host.charCodeAt(labelStart) === 45 || host.charCodeAt(i - 1) === 45) return false;
      labelStart = i + 1;
    } else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95)) return false;
  }
  return true;
}

/** Could be an IP literal (digits and dots, or a colon): only those are worth parsing as one. */
function mayBeIp(host: string): boolean {
  return host.includes(':') || /^[0-9.]+$/.test(host);
}

export type DomainPatternKind = 'exact' | 'subdomains' | 'apexAndSubdomains';

export interface DomainPattern {
  kind: DomainPatternKind;
  /** Normalised domain (for `*.example.com`, `example.com`). */
  domain: string;
}

/**
 * Parses a domain pattern: `example.com` (exactly that host), `*.example.com` (subdomains only,
 * not the apex) or `.example.com` (the apex and its subdomains, as in Squid's dstdomain).
 * Returns an error message instead of throwing, for the validator.
 */
export function parseDomainPattern(pattern: string): DomainPattern | { error: string } {
  const text = pattern.trim();
  let kind: DomainPatternKind = 'exact';
  let rest = text;
  if (text.startsWith('*.')) {
    kind = 'subdomains';
    rest = text.slice(2);
  } else if (text.startsWith('.')) {
    kind = 'apexAndSubdomains';
    rest = text.slice(1);
  }
  if (rest.includes('*')) {
    return { error: `"${pattern}": a wildcard is only allowed as a leading "*." (use domainRegex for anything else)` };
  }
  if (rest.startsWith('.') || rest === '') return { error: `"${pattern}" is not a domain` };
  const domain = normalizeHost(rest);
  if (kind === 'exact' && mayBeIp(domain) && normalizeIp(domain) === domain) return { kind, domain };
  if (!isValidHostname(domain)) return { error: `"${pattern}" is not a valid domain name` };
  return { kind, domain };
}
