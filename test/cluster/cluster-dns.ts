// Cluster DNS for the real node, in place of CoreDNS (no registry to pull it from): answers the
// names pods look up the way CoreDNS's kubernetes plugin does, asking the API server on every query
// (a handful of lookups per test; always current, nothing to cache or invalidate):
//   <svc>.<ns>.svc.<domain>           A: the ClusterIP, or the ready endpoints of a headless Service
//   <host>.<svc>.<ns>.svc.<domain>    A: the endpoint with that hostname (StatefulSet pods)
//   <a-b-c-d>.<ns>.pod.<domain>       A: a-b-c-d
// Everything else is NXDOMAIN: pods here reach nothing outside this machine. UDP only.
import { createSocket, type Socket } from 'node:dgram';
import type { KubeHttp } from './kube-http.js';

export const CLUSTER_DOMAIN = 'cluster.local';

const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_SERVFAIL = 2;
const RCODE_NOTIMP = 4;
const TTL_SECONDS = 5;

export interface DnsQuestion {
  id: number;
  flags: number;
  name: string;
  type: number;
  qclass: number;
  /** Byte length of the header plus the question section. */
  end: number;
}

/** Parses the header and first question of a query; null for anything malformed or compressed. */
export function parseQuery(msg: Buffer): DnsQuestion | null {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return null;
    const len = msg[off];
    if (len === 0) break;
    if (len > 63 || off + 1 + len > msg.length) return null; // pointers never appear in a question we accept
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  off += 1;
  if (off + 4 > msg.length) return null;
  return {
    id: msg.readUInt16BE(0),
    flags: msg.readUInt16BE(2),
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(off),
    qclass: msg.readUInt16BE(off + 2),
    end: off + 4,
  };
}

/** The answer to `q` (whose wire form is `query`): the question echoed, then one A record per address. */
export function buildResponse(query: Buffer, q: DnsQuestion, rcode: number, addresses: string[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, the query's opcode and RD, AA (we own the cluster domain), RA unset: no recursion here.
  header.writeUInt16BE(0x8000 | (q.flags & 0x7900) | 0x0400 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const answers = addresses.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL_SECONDS, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...answers]);
}

export interface Resolution {
  rcode: number;
  addresses: string[];
}

const NXDOMAIN: Resolution = { rcode: RCODE_NXDOMAIN, addresses: [] };
const NODATA: Resolution = { rcode: 0, addresses: [] };
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

interface Service {
  spec?: { clusterIP?: string; type?: string };
}
interface Endpoints {
  subsets?: { addresses?: { ip: string; hostname?: string }[] }[];
}

async function getJson<T>(api: KubeHttp, path: string): Promise<T | null> {
  const res = await api.send('GET', path);
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return JSON.parse(res.body) as T;
}

/** What `name` resolves to in the cluster (type A); names outside `domain` are NXDOMAIN. */
export async function resolveClusterName(api: KubeHttp, name: string, domain = CLUSTER_DOMAIN): Promise<Resolution> {
  if (name !== domain && !name.endsWith(`.${domain}`)) return NXDOMAIN;
  const parts = name === domain ? [] : name.slice(0, -domain.length - 1).split('.');
  const zone = parts.at(-1);
  if (parts.length === 0 || (parts.length === 1 && (zone === 'svc' || zone === 'pod'))) return NODATA;
  if (zone === 'pod' && parts.length === 3) {
    const ip = parts[0].replaceAll('-', '.');
    return IPV4.test(ip) ? { rcode: 0, addresses: [ip] } : NXDOMAIN;
  }
  if (zone !== 'svc') return NXDOMAIN;
  if (parts.length === 2) {
    // A namespace: a name that exists, without records of its own.
    return (await getJson(api, `/api/v1/namespaces/${encodeURIComponent(parts[0])}`)) ? NODATA : NXDOMAIN;
  }
  if (parts.length !== 3 && parts.length !== 4) return NXDOMAIN;
  const [svcName, ns] = parts.slice(-3, -1);
  const svc = await getJson<Service>(
    api,
    `/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(svcName)}`,
  );
  if (!svc) return NXDOMAIN;
  const clusterIp = svc.spec?.clusterIP;
  if (parts.length === 3 && clusterIp && clusterIp !== 'None') return { rcode: 0, addresses: [clusterIp] };
  if (svc.spec?.type === 'ExternalName') return NODATA;
  const eps = await getJson<Endpoints>(
    api,
    `/api/v1/namespaces/${encodeURIComponent(ns)}/endpoints/${encodeURIComponent(svcName)}`,
  );
  const addrs = (eps?.subsets ?? []).flatMap((s) => s.addresses ?? []);
  if (parts.length === 3) return { rcode: 0, addresses: [...new Set(addrs.map((a) => a.ip))] };
  const host = addrs.filter((a) => a.hostname === parts[0]).map((a) => a.ip);
  return host.length > 0 ? { rcode: 0, addresses: host } : NXDOMAIN;
}

export interface ClusterDns {
  address: string;
  port: number;
  close(): Promise<void>;
}

/** Serves cluster DNS on `address:port` (UDP) until close(). */
export async function startClusterDns(
  api: KubeHttp,
  address: string,
  port = 53,
  opts: { domain?: string; log?: (l: string) => void } = {},
): Promise<ClusterDns> {
  const domain = opts.domain ?? CLUSTER_DOMAIN;
  const log = opts.log ?? (() => undefined);
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    if (!q) return;
    const reply = (r: Resolution) =>
      socket.send(buildResponse(msg, q, r.rcode, r.addresses), rinfo.port, rinfo.address);
    if ((q.flags & 0x7800) !== 0 || q.qclass !== CLASS_IN) {
      reply({ rcode: RCODE_NOTIMP, addresses: [] });
      return;
    }
    resolveClusterName(api, q.name, domain).then(
      // Only A records exist here; any other type of a name that exists has no data (AAAA included,
      // so resolvers asking for both do not wait on it).
      (r) => reply(q.type === TYPE_A || r.rcode !== 0 ? r : NODATA),
      (err: Error) => {
        log(`cluster DNS: ${q.name}: ${err.message}`);
        reply({ rcode: RCODE_SERVFAIL, addresses: [] });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => log(`cluster DNS socket: ${err.message}`));
  return {
    address,
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
