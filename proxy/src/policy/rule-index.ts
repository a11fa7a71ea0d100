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
  /** Entries of the domain index that match the host (see `DomainIndex.match`). */
  matches: readonly number[];
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
  private readonly scratch: number[] = [];

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
  }

  /**
   * Host-specific candidates in rule order (excluding `always`). The returned array and the
   * `domainHit` marks are reused: valid until the next call.
   */
  candidates(host: HostMatches): readonly number[] {
    if (++this.epoch === EPOCH_LIMIT) {
      this.hitEpoch.fill(0);
      this.seenEpoch.fill(0);
      this.epoch = 1;
    }
    const epoch = this.epoch;
    const out = this.scratch;
    out.length = 0;
    const index = this.domains;
    for (const m of host.matches) {
      const end = index.idsEnd(this.kind, m);
      for (let p = index.idsStart(this.kind, m); p < end; p++) {
        const id = index.idAt(p);
        this.hitEpoch[id] = epoch;
        if (this.seenEpoch[id] !== epoch) {
          this.seenEpoch[id] = epoch;
          out.push(id);
        }
      }
    }
    for (const c of host.categories) {
      for (const id of this.byCategory[c]) {
        if (this.seenEpoch[id] !== epoch) {
          this.seenEpoch[id] = epoch;
          out.push(id);
        }
      }
    }
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }

  /** Whether the host of the last `candidates` call matched rule `id`'s `domains`. */
  domainHit(id: number): boolean {
    return this.hitEpoch[id] === this.epoch;
  }
}
