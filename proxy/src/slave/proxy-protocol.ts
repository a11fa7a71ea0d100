/**
 * The PROXY protocol header (v1 text and v2 binary, haproxy.org's proxy-protocol.txt) that a load
 * balancer in TCP mode (HAProxy `send-proxy`, AWS NLB, ...) puts before the client's bytes, so the
 * slave sees the client's address instead of the balancer's. Only the source address is used:
 * it is what policy `sources`, `allowedClients` and access records are about.
 */
import { formatIp, normalizeIp } from '../policy/cidr.js';

export type ProxyHeader =
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /**
   * `length` bytes are the header; `source` is the client's address, undefined when the header
   * carries none (v1 UNKNOWN, v2 LOCAL such as the balancer's own health checks, non-IP families).
   */
  | { kind: 'header'; length: number; source: string | undefined };

const V1_PREFIX = Buffer.from('PROXY ');
/** The longest v1 line the spec allows, CRLF included. */
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
/** Addresses plus TLVs a balancer adds (AWS: a VPC endpoint id, TLS details); far more is not a header. */
const V2_MAX_PAYLOAD = 4096;

const incomplete: ProxyHeader = { kind: 'incomplete' };
const invalid = (reason: string): ProxyHeader => ({ kind: 'invalid', reason });

/** True while `buf` could still be the start of `prefix`, or starts with all of it. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/** Reads the header at the start of `buf` (the first bytes a trusted balancer sent). */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return incomplete;
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < V2_FIXED ? incomplete : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? incomplete : parseV1(buf);
  return invalid('the connection does not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyHeader {
  const lf = buf.indexOf(0x0a);
  if (lf === -1) return buf.length >= V1_MAX ? invalid(`no CRLF within ${V1_MAX} bytes of a v1 header`) : incomplete;
  if (lf + 1 > V1_MAX) return invalid(`a v1 header longer than ${V1_MAX} bytes`);
  if (buf[lf - 1] !== 0x0d) return invalid('a v1 header must end in CRLF');
  const fields = buf.toString('latin1', 0, lf - 1).split(' ');
  const length = lf + 1;
  const family = fields[1];
  if (family === 'UNKNOWN') return { kind: 'header', length, source: undefined };
  if (family !== 'TCP4' && family !== 'TCP6') return invalid(`v1 family "${family}": expected TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) return invalid(`a v1 ${family} header has 6 fields, this one ${fields.length}`);
  const [, , src, dst, srcPort, dstPort] = fields;
  const wantV6 = family === 'TCP6';
  const addressProblem = (what: string, ip: string) =>
    normalizeIp(ip) === undefined || ip.includes(':') !== wantV6
      ? `v1 ${family} ${what} address "${ip}" is not an ${wantV6 ? 'IPv6' : 'IPv4'} address`
      : undefined;
  const problem = addressProblem('source', src) ?? addressProblem('destination', dst);
  if (problem) return invalid(problem);
  for (const port of [srcPort, dstPort]) {
    if (!/^(0|[1-9]\d{0,4})$/.test(port) || Number(port) > 65535) return invalid(`v1 port "${port}" is not 0-65535`);
  }
  return { kind: 'header', length, source: normalizeIp(src) };
}

function parseV2(buf: Buffer): ProxyHeader {
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) return invalid(`v2 version ${verCmd >> 4}: expected 2`);
  const command = verCmd & 0x0f;
  if (command > 1) return invalid(`v2 command ${command}: expected LOCAL (0) or PROXY (1)`);
  const payload = buf.readUInt16BE(14);
  if (payload > V2_MAX_PAYLOAD) return invalid(`a v2 header of ${payload} bytes (at most ${V2_MAX_PAYLOAD} accepted)`);
  const length = V2_FIXED + payload;
  if (buf.length < length) return incomplete;
  // LOCAL: the balancer speaking for itself (a health check); the connection's own address stands.
  if (command === 0) return { kind: 'header', length, source: undefined };
  const family = buf[13] >> 4;
  const at = V2_FIXED;
  if (family === 1) {
    if (payload < 12) return invalid(`a v2 IPv4 header needs 12 bytes of addresses, this one has ${payload}`);
    return { kind: 'header', length, source: formatIp({ version: 4, value: buf.readUInt32BE(at) }) };
  }
  if (family === 2) {
    if (payload < 36) return invalid(`a v2 IPv6 header needs 36 bytes of addresses, this one has ${payload}`);
    const value = (buf.readBigUInt64BE(at) << 64n) | buf.readBigUInt64BE(at + 8);
    // ::ffff:a.b.c.d is the IPv4 client a dual-stack balancer saw.
    return { kind: 'header', length, source: normalizeIp(formatIp({ version: 6, value })) };
  }
  // UNSPEC or AF_UNIX: no IP address to use.
  return { kind: 'header', length, source: undefined };
}
