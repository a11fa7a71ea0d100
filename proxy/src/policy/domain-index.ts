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
 * - ids live in flat arrays (offsets + values), not in an array per entry;
 * - a Bloom filter small enough to stay in cache (16 bits per domain, two probes) answers most
 *   probes for absent suffixes (every unknown host, the exact probe of a wildcard match)
 *   without touching the table.
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

/** A second, independent-enough bit position for the Bloom filter. */
function bloomSecond(h: number): number {
  return Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 7;
}

function slotOf(h: number, mask: number): number {
  return (h ^ (h >>> 15)) & mask;
}

/**
 * Ints per slot: hash; offset of the domain in `text`; meta = length | SINGLE | list << 9;
 * data = the id itself for an entry with a single id (most entries: one category's domain),
 * else the entry's row in `offsets`. A slot with meta 0 is empty.
 */
const STRIDE = 4;
const SINGLE = 1 << 8;
/** Up to this many labels are matched per host; DNS allows 127. */
const MAX_MATCHES = 128;

export class DomainIndex {
  private building: { domains: string[]; byDomain: Map<string, number>; lists: (number[] | undefined)[][] } | undefined;
  private entries = 0;
  private slots = new Int32Array(STRIDE);
  private mask = 0;
  private bloom = new Int32Array(1);
  private bloomMask = 0;
  /** Every domain, concatenated; slots point into it. */
  private text = '';
  /** For entries with several ids: per entry, `lists + 1` offsets into `values`. */
  private offsets = new Int32Array(1);
  private values = new Int32Array(0);
  /** Number of id lists: kind * 2 for exact-host ids, kind * 2 + 1 for subdomain ids. */
  private readonly lists: number;
  /** Matches of the last `match` call: slot * 2 (exact host) or slot * 2 + 1 (a parent domain). */
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
    if (pattern.kind !== 'subdomains') this.push(b.lists[kind * 2], entry, id);
    if (pattern.kind !== 'exact') this.push(b.lists[kind * 2 + 1], entry, id);
  }

  private push(list: (number[] | undefined)[], entry: number, id: number): void {
    const ids = list[entry];
    if (!ids) list[entry] = [id];
    else if (ids[ids.length - 1] !== id) ids.push(id);
  }

  /** Builds the probe table and the flat id arrays; call once after the last `add`. */
  freeze(): void {
    const b = this.building;
    if (!b) return;
    this.building = undefined;
    const n = b.domains.length;
    const lists = this.lists;
    this.entries = n;
    let capacity = 4;
    while (capacity < n * 2) capacity *= 2;
    const slots = new Int32Array(capacity * STRIDE);
    const mask = capacity - 1;

    // Entries with more than one id get a row of offsets; count them and their ids first.
    let multi = 0;
    let total = 0;
    const idCount = new Int32Array(n);
    for (let e = 0; e < n; e++) {
      for (let l = 0; l < lists; l++) idCount[e] += b.lists[l][e]?.length ?? 0;
      if (idCount[e] > 1) {
        multi++;
        total += idCount[e];
      }
    }
    const offsets = new Int32Array(multi * (lists + 1));
    const values = new Int32Array(total);
    let row = 0;
    let v = 0;
    let textOffset = 0;
    for (let e = 0; e < n; e++) {
      const d = b.domains[e];
      let meta = d.length;
      let data = 0;
      if (idCount[e] === 1) {
        for (let l = 0; l < lists; l++) {
          const ids = b.lists[l][e];
          if (ids) {
            meta |= SINGLE | (l << 9);
            data = ids[0];
          }
        }
      } else {
        // An entry with no ids (cannot happen through `add`) gets an empty row like any multi entry.
        const base = row * (lists + 1);
        for (let l = 0; l < lists; l++) {
          offsets[base + l] = v;
          for (const id of b.lists[l][e] ?? []) values[v++] = id;
        }
        offsets[base + lists] = v;
        data = row++;
      }
      const h = hashOf(d);
      let s = slotOf(h, mask);
      while (slots[s * STRIDE + 2] !== 0) s = (s + 1) & mask;
      const at = s * STRIDE;
      slots[at] = h;
      slots[at + 1] = textOffset;
      slots[at + 2] = meta;
      slots[at + 3] = data;
      textOffset += d.length;
    }
    let bloomBits = 1024;
    while (bloomBits < n * 16) bloomBits *= 2;
    const bloom = new Int32Array(bloomBits >>> 5);
    const bloomMask = bloomBits - 1;
    for (let s = 0; s < capacity; s++) {
      if (slots[s * STRIDE + 2] === 0) continue;
      const h = slots[s * STRIDE];
      const a = h & bloomMask;
      const c = bloomSecond(h) & bloomMask;
      bloom[a >>> 5] |= 1 << (a & 31);
      bloom[c >>> 5] |= 1 << (c & 31);
    }
    this.bloom = bloom;
    this.bloomMask = bloomMask;
    this.text = b.domains.join('');
    this.slots = slots;
    this.mask = mask;
    this.offsets = offsets;
    this.values = values;
  }

  /** The slot holding `host.slice(start)` (whose hash is `h`), or -1. */
  private find(host: string, start: number, h: number): number {
    const a = h & this.bloomMask;
    const c = bloomSecond(h) & this.bloomMask;
    if ((this.bloom[a >>> 5] & (1 << (a & 31))) === 0 || (this.bloom[c >>> 5] & (1 << (c & 31))) === 0) return -1;
    const len = host.length - start;
    const slots = this.slots;
    for (let s = slotOf(h, this.mask); ; s = (s + 1) & this.mask) {
      const at = s * STRIDE;
      const meta = slots[at + 2];
      if (meta === 0) return -1;
      if (slots[at] === h && (meta & 0xff) === len && this.equalAt(slots[at + 1], host, start, len)) return s;
    }
  }

  private equalAt(offset: number, host: string, start: number, len: number): boolean {
    const text = this.text;
    for (let i = 0; i < len; i++) if (text.charCodeAt(offset + i) !== host.charCodeAt(start + i)) return false;
    return true;
  }

  /**
   * Finds the entries that match the normalised `host` into `this.matches` (valid until the next
   * call) and returns how many there are. Read their ids with `idCount`/`idAt`.
   */
  match(host: string): number {
    if (this.building) throw new Error('DomainIndex.match before freeze');
    if (this.entries === 0) return 0;
    let n = 0;
    let h = SEED;
    for (let i = host.length - 1; i >= 0; i--) {
      h = step(h, host.charCodeAt(i));
      if (i === 0) {
        const s = this.find(host, 0, h);
        if (s !== -1) this.matches[n++] = s * 2;
      } else if (host.charCodeAt(i - 1) === 46 /* . */ && n < MAX_MATCHES - 1) {
        const s = this.find(host, i, h);
        if (s !== -1) this.matches[n++] = s * 2 + 1;
      }
    }
    return n;
  }

  /** How many ids of `kind` a match (from `matches`) stands for. */
  idCount(kind: number, match: number): number {
    const at = (match >> 1) * STRIDE;
    const list = kind * 2 + (match & 1);
    const meta = this.slots[at + 2];
    if (meta & SINGLE) return meta >> 9 === list ? 1 : 0;
    const base = this.slots[at + 3] * (this.lists + 1) + list;
    return this.offsets[base + 1] - this.offsets[base];
  }

  /** The `i`-th id of `kind` for a match (ascending in `i`). */
  idAt(kind: number, match: number, i: number): number {
    const at = (match >> 1) * STRIDE;
    if (this.slots[at + 2] & SINGLE) return this.slots[at + 3];
    return this.values[this.offsets[this.slots[at + 3] * (this.lists + 1) + kind * 2 + (match & 1)] + i];
  }
}
