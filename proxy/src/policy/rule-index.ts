/**
 * Which rules can possibly match a host, without looking at every rule: rules with `domains`
 * are found through the domain index, rules with `categories` through the host's categories,
 * and only rules with neither are candidates for every host.
 */
import type { DomainIndex } from './domain-index.js';

export interface IndexedRule {
  hasDomains: boolean;
  categoryIds?: readonly number[];
}

/** A host as the indexes see it: its domain-index matches and categories. */
export interface HostMatches {
  host: string;
  /** Entries of the domain index that match the host: the first `matchCount` of `DomainIndex.matches`. */
  matchCount: number;
  /** Ids of the categories the host belongs to, ascending (bundle order). */
  categories: readonly number[];
}

const EPOCH_LIMIT = 0x7fffffff;

export class RuleIndex {
  private readonly byCategory: number[][];
  /** Rules that are candidates for every host, ascending. */
  readonly always: readonly number[];
  private readonly hitEpoch: Int32Array;
  private readonly seenEpoch: Int32Array;
  private epoch = 0;
  /** Host-specific candidates of the last `candidates` call: the first `count` items. */
  readonly ids: Int32Array;
  count = 0;

  /** The rules' domain patterns must already be in `domains` under `kind`, with the rule's position as id. */
  constructor(
    private readonly domains: DomainIndex,
    private readonly kind: number,
    rules: readonly IndexedRule[],
    categoryCount: number,
  ) {
    this.byCategory = Array.from({ length: categoryCount }, () => []);
    const always: number[] = [];
    rules.forEach((rule, id) => {
      for (const c of rule.categoryIds ?? []) this.byCategory[c].push(id);
      if (!rule.hasDomains && rule.categoryIds === undefined) always.push(id);
    });
    this.always = always;
    this.hitEpoch = new Int32Array(rules.length);
    this.seenEpoch = new Int32Array(rules.length);
    this.ids = new Int32Array(rules.length);
  }

  /**
   * Collects the host-specific candidates (excluding `always`) in rule order into `ids` and
   * returns their count. `ids` and the `domainHit` marks are reused: valid until the next call.
   */
  candidates(host: HostMatches): number {
    if (++this.epoch === EPOCH_LIMIT) {
      this.hitEpoch.fill(0);
      this.seenEpoch.fill(0);
      this.epoch = 1;
    }
    const epoch = this.epoch;
    const out = this.ids;
    let n = 0;
    const index = this.domains;
    for (let i = 0; i < host.matchCount; i++) {
      const m = index.matches[i];
      const count = index.idCount(this.kind, m);
      for (let k = 0; k < count; k++) {
        const id = index.idAt(this.kind, m, k);
        this.hitEpoch[id] = epoch;
        if (this.seenEpoch[id] !== epoch) {
          this.seenEpoch[id] = epoch;
          out[n++] = id;
        }
      }
    }
    for (const c of host.categories) {
      for (const id of this.byCategory[c]) {
        if (this.seenEpoch[id] !== epoch) {
          this.seenEpoch[id] = epoch;
          out[n++] = id;
        }
      }
    }
    // Insertion sort: a host has a handful of candidates.
    for (let i = 1; i < n; i++) {
      const v = out[i];
      let j = i - 1;
      while (j >= 0 && out[j] > v) {
        out[j + 1] = out[j];
        j--;
      }
      out[j + 1] = v;
    }
    return (this.count = n);
  }

  /** Whether the host of the last `candidates` call matched rule `id`'s `domains`. */
  domainHit(id: number): boolean {
    return this.hitEpoch[id] === this.epoch;
  }
}
