/**
 * Host → ids lookup in O(labels): one hash probe for the exact host, then one per parent domain
 * for wildcard patterns (`www.a.example.com` probes `a.example.com`, `example.com`, `com`).
 * The cost of a lookup does not depend on how many patterns the index holds.
 */
import type { DomainPattern } from './hostname.js';

interface Entry {
  /** Ids whose pattern matches exactly this host. */
  exact?: number[];
  /** Ids whose pattern matches strict subdomains of this host. */
  sub?: number[];
}

function pushUnique(list: number[] | undefined, id: number): number[] {
  if (!list) return [id];
  if (list[list.length - 1] !== id) list.push(id);
  return list;
}

export class DomainIndex {
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.entries.size;
  }

  /** Ids must be added in ascending order for lookups to visit them in order within an entry. */
  add(pattern: DomainPattern, id: number): void {
    let entry = this.entries.get(pattern.domain);
    if (!entry) this.entries.set(pattern.domain, (entry = {}));
    if (pattern.kind !== 'subdomains') entry.exact = pushUnique(entry.exact, id);
    if (pattern.kind !== 'exact') entry.sub = pushUnique(entry.sub, id);
  }

  /** Calls `visit` for every id whose pattern matches the normalised `host` (an id may repeat). */
  lookup(host: string, visit: (id: number) => void): void {
    const own = this.entries.get(host);
    if (own?.exact) for (const id of own.exact) visit(id);
    let dot = host.indexOf('.');
    while (dot !== -1) {
      const parent = this.entries.get(host.slice(dot + 1));
      if (parent?.sub) for (const id of parent.sub) visit(id);
      dot = host.indexOf('.', dot + 1);
    }
  }
}
