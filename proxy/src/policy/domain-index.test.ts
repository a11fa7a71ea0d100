import { DomainIndex } from './domain-index.js';
import { parseDomainPattern, type DomainPattern } from './hostname.js';

/** Ids per kind for `host`, read through the index. */
function lookup(index: DomainIndex, host: string, kinds: number): number[][] {
  const out = Array.from({ length: kinds }, () => [] as number[]);
  const n = index.match(host);
  for (let i = 0; i < n; i++) {
    const m = index.matches[i];
    for (let k = 0; k < kinds; k++) for (let j = 0; j < index.idCount(k, m); j++) out[k].push(index.idAt(k, m, j));
  }
  return out.map((ids) => [...new Set(ids)].sort((a, b) => a - b));
}

/** The same question answered by scanning every pattern. */
function scan(
  patterns: { kind: number; pattern: DomainPattern; id: number }[],
  host: string,
  kinds: number,
): number[][] {
  const out = Array.from({ length: kinds }, () => new Set<number>());
  for (const { kind, pattern, id } of patterns) {
    const exact = host === pattern.domain;
    const sub = host.endsWith('.' + pattern.domain);
    if ((pattern.kind !== 'subdomains' && exact) || (pattern.kind !== 'exact' && sub)) out[kind].add(id);
  }
  return out.map((ids) => [...ids].sort((a, b) => a - b));
}

describe('DomainIndex', () => {
  test('exact, subdomain-only and apex+subdomain patterns, several kinds and ids per domain', () => {
    const index = new DomainIndex(2);
    index.add(0, parseDomainPattern('example.com') as DomainPattern, 0);
    index.add(0, parseDomainPattern('*.example.com') as DomainPattern, 1);
    index.add(0, parseDomainPattern('.example.com') as DomainPattern, 2);
    index.add(1, parseDomainPattern('*.com') as DomainPattern, 7);
    index.add(1, parseDomainPattern('a.example.com') as DomainPattern, 8);
    index.freeze();
    expect(lookup(index, 'example.com', 2)).toEqual([[0, 2], [7]]);
    expect(lookup(index, 'a.example.com', 2)).toEqual([
      [1, 2],
      [7, 8],
    ]);
    expect(lookup(index, 'b.a.example.com', 2)).toEqual([[1, 2], [7]]);
    expect(lookup(index, 'com', 2)).toEqual([[], []]);
    expect(lookup(index, 'xexample.com', 2)).toEqual([[], [7]]);
    expect(lookup(index, 'example.org', 2)).toEqual([[], []]);
    expect(lookup(index, '', 2)).toEqual([[], []]);
  });

  test('an empty index matches nothing', () => {
    const index = new DomainIndex(1);
    index.freeze();
    expect(index.match('example.com')).toBe(0);
  });

  test('agrees with a linear scan on 5 000 random patterns and 500 hosts', () => {
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const labels = ['a', 'b', 'c', 'www', 'cdn', 'x1', 'xn--bcher-kva', 'mail', 'api', 'z'];
    const name = (depth: number) =>
      Array.from({ length: depth }, () => labels[Math.floor(rand() * labels.length)]).join('.');
    const kinds = ['', '*.', '.'];
    const patterns: { kind: number; pattern: DomainPattern; id: number }[] = [];
    const nextId = [0, 0, 0];
    for (let i = 0; i < 5000; i++) {
      const kind = Math.floor(rand() * 3);
      const pattern = parseDomainPattern(
        kinds[Math.floor(rand() * 3)] + name(1 + Math.floor(rand() * 4)),
      ) as DomainPattern;
      patterns.push({ kind, pattern, id: nextId[kind]++ });
    }
    const index = new DomainIndex(3);
    for (const p of patterns) index.add(p.kind, p.pattern, p.id);
    index.freeze();
    for (let i = 0; i < 500; i++) {
      const host = name(1 + Math.floor(rand() * 6));
      expect(lookup(index, host, 3)).toEqual(scan(patterns, host, 3));
    }
  });

  test('a host longer than any stored domain (and than 255) never matches by accident', () => {
    const index = new DomainIndex(1);
    index.add(0, parseDomainPattern('*.example.com') as DomainPattern, 0);
    index.freeze();
    const long = `${'a'.repeat(60)}.`.repeat(5) + 'example.com';
    expect(lookup(index, long, 1)).toEqual([[0]]);
    expect(lookup(index, 'a'.repeat(300), 1)).toEqual([[]]);
  });
});
