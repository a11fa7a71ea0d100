/**
 * Host → ids lookup in O(labels), independent of how many patterns the index holds: one probe
 * for the exact host, then one per parent domain for wildcard patterns (`www.a.example.com`
 * probes `a.example.com`, `example.com`, `com`).
 *
 * Built for 100 000+ domains, where a lookup's cost is cache misses rather than instructions:
 * - the suffix hashes come from one right-to-left pass over the host (no substring is
 *   allocated or re-hashed per probe);
 * - the table is open addressing over one Int32Array, each slot holding hash, entry, length
 *   and the domain's offset in one concatenated string (a probe touches one cache line);
 * - ids live in flat arrays (offsets + values), not in an array per entry.
 * Several id spaces ("kinds": categories, rules, header rules) share one table, so a request
 * hashes its host once.
 */
import type { DomainPattern } from './hostname.js';

/** FNV-1a step; the host is hashed from its last character back, so every suffix hash falls out on the way. */
function step(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}
const SEED = 0x811c9dc5 | 0;

function hashOf(domain: string): number {
  let h = SEED;
  for (let i = domain.length - 1; i >= 0; i--) h = step(h, domain.charCodeAt(i));
  return h;
}

function slotOf(h: number, mask: number): number {
  return (h ^ (h >>> 15)) & mask;
}

/** Ints per slot: hash, entry + 1 (0 = empty), domain length, offset in `text`. */
const STRIDE = 4;
/** Up to this many labels are matched per host; DNS allows 127. */
const MAX_MATCHES = 128;

export class DomainIndex {
  private building: { domains: string[]; byDomain: Map<string, number>; lists: (number[] | undefined)[][] } | undefined;
  private entries = 0;
  private slots = new Int32Array(STRIDE);
  private mask = 0;
  /** Every domain, concatenated; slots point into it. */
  private text = '';
  /** Per entry, `lists + 1` offsets into `values` (list = kind * 2 for exact, kind * 2 + 1 for subdomains). */
  private offsets = new Int32Array(1);
  private values = new Int32Array(0);
  private readonly lists: number;
  /** Matches of the last `match` call: entry * 2 (exact) or entry * 2 + 1 (subdomain). */
  readonly matches = new Int32Array(MAX_MATCHES);

  constructor(readonly kinds: number) {
    this.lists = kinds * 2;
    this.building = { domains: [], byDomain: new Map(), lists: Array.from({ length: this.lists }, () => []) };
  }

  get size(): number {
    return this.entries;
  }

  /** Ids of one kind must be added in ascending order, so lookups visit them in order. */
  add(kind: number, pattern: DomainPattern, id: number): void {
    const b = this.building;
    if (!b) throw new Error('DomainIndex.add after freeze');
    let entry = b.byDomain.get(pattern.domain);
    if (entry === undefined) {
      entry = b.domains.length;
      b.byDomain.set(pattern.domain, entry);
      b.domains.push(pattern.domain);
    }
    const push = (list: number) => {
      const ids = b.lists[list][entry];
      if (!ids) b.lists[list][entry] = [id];
      else if (ids[ids.length - 1] !== id) ids.push(id);
    };
    if (pattern.kind !== 'subdomains') push(kind * 2);
    if (pattern.kind !== 'exact') push(kind * 2 + 1);
  }

  /** Builds the probe table and the flat id arrays; call once after the last `add`. */
  freeze(): void {
    const b = this.building;
    if (!b) return;
    this.building = undefined;
    const n = b.domains.length;
    this.entries = n;
    let capacity = 4;
    while (capacity < n * 2) capacity *= 2;
    this.slots = new Int32Array(capacity * STRIDE);
    this.mask = capacity - 1;
    let offset = 0;
    for (let e = 0; e < n; e++) {
      const d = b.domains[e];
      const h = hashOf(d);
      let s = slotOf(h, this.mask);
      while (this.slots[s * STRIDE + 1] !== 0) s = (s + 1) & this.mask;
      const at = s * STRIDE;
      this.slots[at] = h;
      this.slots[at + 1] = e + 1;
      this.slots[at + 2] = d.length;
      this.slots[at + 3] = offset;
      offset += d.length;
    }
    this.text = b.domains.join('');

    const lists = this.lists;
    this.offsets = new Int32Array(n * lists + 1);
    let total = 0;
    for (let e = 0; e < n; e++) for (let l = 0; l < lists; l++) total += b.lists[l][e]?.length ?? 0;
    this.values = new Int32Array(total);
    let v = 0;
    for (let e = 0; e < n; e++) {
      for (let l = 0; l < lists; l++) {
        this.offsets[e * lists + l] = v;
        for (const id of b.lists[l][e] ?? []) this.values[v++] = id;
      }
    }
    this.offsets[n * lists] = v;
  }

  private find(host: string, start: number, h: number): number {
    const len = host.length - start;
    const slots = this.slots;
    for (let s = slotOf(h, this.mask); ; s = (s + 1) & this.mask) {
      const at = s * STRIDE;
      const entry = slots[at + 1];
      if (entry === 0) return -1;
      if (slots[at] === h && slots[at + 2] === len && this.equalAt(slots[at + 3], host, start, len)) return entry - 1;
    }
  }

  private equalAt(offset: number, host: string, start: number, len: number): boolean {
    const text = this.text;
    for (let i = 0; i < len; i++) if (text.charCodeAt(offset + i) !== host.charCodeAt(start + i)) return false;
    return true;
  }

  /**
   * Finds the entries that match the normalised `host` into `this.matches` (valid until the next
   * call) and returns how many there are. Read their ids with `idsStart`/`idsEnd`/`idAt`.
   */
  match(host: string): number {
    if (this.building) throw new Error('DomainIndex.match before freeze');
    if (this.entries === 0) return 0;
    let n = 0;
    let h = SEED;
    for (let i = host.length - 1; i >= 0; i--) {
      h = step(h, host.charCodeAt(i));
      if (i === 0) {
        const e = this.find(host, 0, h);
        if (e !== -1) this.matches[n++] = e * 2;
      } else if (host.charCodeAt(i - 1) === 46 /* . */ && n < MAX_MATCHES - 1) {
        const e = this.find(host, i, h);
        if (e !== -1) this.matches[n++] = e * 2 + 1;
      }
    }
    return n;
  }

  /** First position in `idAt` of the ids of `kind` that a match stands for. */
  idsStart(kind: number, match: number): number {
    return this.offsets[(match >> 1) * this.lists + kind * 2 + (match & 1)];
  }

  /** One past the last position. */
  idsEnd(kind: number, match: number): number {
    return this.offsets[(match >> 1) * this.lists + kind * 2 + (match & 1) + 1];
  }

  idAt(position: number): number {
    return this.values[position];
  }
}
