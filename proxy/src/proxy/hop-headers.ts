/**
 * Header rewriting between client and upstream, on node's flat `rawHeaders` arrays (name, value,
 * name, value...): they keep the client's order, case and repeated fields, and cost less than objects.
 */
import type { HeaderEdits } from '../policy/decision.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the proxy's own credentials and the legacy Proxy-Connection. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Field names a `Connection` header declares hop-by-hop (`Connection: close, X-Foo`). */
function connectionListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 10 && raw[i].length !== 16) continue;
    const name = raw[i].toLowerCase();
    if (name !== 'connection' && name !== 'proxy-connection') continue;
    for (const token of raw[i + 1].split(',')) {
      const t = token.trim().toLowerCase();
      if (t && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') (listed ??= new Set()).add(t);
    }
  }
  return listed;
}

export interface RewriteOptions {
  /** Lower-case names dropped in addition to the hop-by-hop set (e.g. `host`, which is rebuilt). */
  drop?: ReadonlySet<string>;
  edits?: HeaderEdits;
  /** Keep `Connection: upgrade` and `Upgrade` (WebSocket handshakes). */
  keepUpgrade?: boolean;
}

/** End-to-end headers of `raw`, with policy edits applied; hop-by-hop fields removed. */
export function endToEndHeaders(raw: readonly string[], opts: RewriteOptions = {}): string[] {
  const listed = connectionListed(raw);
  const edits = opts.edits;
  let removed: Set<string> | undefined;
  if (edits) {
    removed = new Set(edits.remove.map((n) => n.toLowerCase()));
    for (const n of Object.keys(edits.set)) removed.add(n.toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name)) {
      if (!(opts.keepUpgrade && (name === 'upgrade' || name === 'connection'))) continue;
    }
    if (listed?.has(name) || opts.drop?.has(name) || removed?.has(name)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  if (edits) {
    for (const [n, v] of Object.entries(edits.set)) out.push(n, v);
    for (const [n, v] of Object.entries(edits.add)) out.push(n, v);
  }
  return out;
}

/** First value of a header in a raw array (case-insensitive), or undefined. */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === lowerName.length && raw[i].toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/** How many times a header occurs in a raw array. */
export function rawHeaderCount(raw: readonly string[], lowerName: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === lowerName.length && raw[i].toLowerCase() === lowerName) n++;
  }
  return n;
}
