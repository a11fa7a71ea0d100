/**
 * Header rewriting between client and upstream, on node's flat `rawHeaders` arrays (name, value,
 * name, value...): they keep the client's order, case and repeated fields, and cost less than objects.
 */
import type { HeaderEdits } from '../policy/decision.js';
import type { HeadLines } from './http-head.js';

import { nameIs } from './header-name.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the proxy's own credentials and the legacy Proxy-Connection. */
function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return nameIs(name, 'te');
    case 7:
      return nameIs(name, 'trailer') || nameIs(name, 'upgrade');
    case 10:
      return nameIs(name, 'connection') || nameIs(name, 'keep-alive');
    case 16:
      return nameIs(name, 'proxy-connection');
    case 17:
      return nameIs(name, 'transfer-encoding');
    case 18:
      return nameIs(name, 'proxy-authenticate');
    case 19:
      return nameIs(name, 'proxy-authorization');
    default:
      return false;
  }
}

/** Field names a `Connection` header declares hop-by-hop (`Connection: close, X-Foo`). */
function connectionListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (!nameIs(raw[i], 'connection') && !nameIs(raw[i], 'proxy-connection')) continue;
    const value = raw[i + 1];
    if (nameIs(value, 'keep-alive') || nameIs(value, 'close')) continue;
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') (listed ??= new Set()).add(t);
    }
  }
  return listed;
}

export interface RewriteOptions {
  /** Lower-case names dropped in addition to the hop-by-hop set (e.g. `host`, which is rebuilt). */
  drop?: readonly string[];
  edits?: HeaderEdits;
  /** Keep `Connection: upgrade` and `Upgrade` (WebSocket handshakes). */
  keepUpgrade?: boolean;
}

function dropped(name: string, drop: readonly string[]): boolean {
  for (let i = 0; i < drop.length; i++) if (nameIs(name, drop[i])) return true;
  return false;
}

/** End-to-end headers of `raw`, with policy edits applied; hop-by-hop fields removed. */
export function endToEndHeaders(raw: readonly string[], opts: RewriteOptions = {}): string[] {
  const listed = connectionListed(raw);
  const edits = opts.edits;
  const drop = opts.drop;
  let removed: Set<string> | undefined;
  if (edits) {
    removed = new Set(edits.remove.map((n) => n.toLowerCase()));
    for (const n of Object.keys(edits.set)) removed.add(n.toLowerCase());
    if (removed.size === 0) removed = undefined;
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (isHopByHop(name)) {
      if (!(opts.keepUpgrade && (nameIs(name, 'upgrade') || nameIs(name, 'connection')))) continue;
    }
    if (drop && dropped(name, drop)) continue;
    // Only Connection-listed names and policy edits need the lower-cased name: both are rare.
    if ((listed || removed) && (listed?.has(name.toLowerCase()) || removed?.has(name.toLowerCase()))) continue;
    out.push(name, raw[i + 1]);
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
    if (nameIs(raw[i], lowerName)) return raw[i + 1];
  }
  return undefined;
}

/** How many times a header occurs in a raw array. */
export function rawHeaderCount(raw: readonly string[], lowerName: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (nameIs(raw[i], lowerName)) n++;
  }
  return n;
}

/**
 * The end-to-end field lines of a head as they arrived (runs of its text), when only whole fields
 * go: hop-by-hop ones and `drop`. Undefined when `Connection` names more fields to drop; the caller
 * then rebuilds the lines from `endToEndHeaders`, as it does when policy edits apply.
 */
export function endToEndLines(head: HeadLines, drop?: readonly string[]): string | undefined {
  const { text, raw, lineEnds } = head;
  if (connectionListed(raw)) return undefined;
  let out = '';
  let run = -1;
  let lineStart = head.fieldsStart;
  for (let f = 0; f < lineEnds.length; f++) {
    const name = raw[2 * f];
    if (!isHopByHop(name) && !(drop && dropped(name, drop))) {
      if (run === -1) run = lineStart;
    } else if (run !== -1) {
      out += text.slice(run, lineStart);
      run = -1;
    }
    lineStart = lineEnds[f];
  }
  if (run !== -1) out += text.slice(run, lineStart);
  return out;
}

/** `name: value` lines of a raw array. */
export function fieldLines(raw: readonly string[]): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return out;
}
