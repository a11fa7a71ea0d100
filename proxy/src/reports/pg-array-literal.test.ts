import { createRequire } from 'node:module';
import type { AccessRecord } from './access-record.js';
import { integerArray, joinElements, recordElements, rollupArrays, textArray } from './pg-array-literal.js';
import { rollupRows } from './store-rows.js';
import { fixtureBatches, NASTY_TEXT } from './store-contract.testkit.js';

// pg's own encoder (what the store used before): the literals must read back the same.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils') as { prepareValue(v: unknown): string };
const pgLiteral = (values: unknown[]): string => prepareValue(values);

describe('PostgreSQL array literals', () => {
  it('quotes every text element and escapes only quotes and backslashes', () => {
    expect(textArray(['a', null, undefined, 'NULL', '', 'x,y {z}', 'q"\\b'], (s) => s)).toBe(
      '{"a",NULL,NULL,"NULL","","x,y {z}","q\\"\\\\b"}',
    );
    expect(integerArray([1, 0, 1_700_000_000_000], (n) => n)).toBe('{1,0,1700000000000}');
    expect(textArray([], (s: string) => s)).toBe('{}');
  });

  it('says what pg itself would say for every column of a batch, awkward strings included, whole or in slices', () => {
    const records: AccessRecord[] = [
      ...fixtureBatches().flatMap((b) => b.records),
      ...NASTY_TEXT.map((t, i) => ({
        ...fixtureBatches()[0].records[0],
        user: t,
        url: `http://x/${t}`,
        rule: t,
        time: 1 + i,
      })),
    ];
    // pg quotes numbers too ('{"1"}'); PostgreSQL reads both forms as the same integers.
    const expected = (values: unknown[]) =>
      typeof values[0] === 'number' ? pgLiteral(values).replace(/"(\d+)"/g, '$1') : pgLiteral(values);
    // The policy as its id in policy_hashes: any hash is 7 here, no hash NULL.
    const policyId = (r: AccessRecord) => (r.policyHash === undefined ? null : 7);
    const columns: ((r: AccessRecord) => unknown)[] = [
      (r) => r.time,
      (r) => r.slave,
      (r) => r.client,
      (r) => r.user ?? null,
      (r) => r.method,
      (r) => r.host,
      (r) => r.url,
      (r) => r.status,
      (r) => r.bytesUp,
      (r) => r.bytesDown,
      (r) => r.durationMs,
      (r) => r.action,
      (r) => r.rule ?? null,
      (r) => r.category ?? null,
      policyId,
    ];
    const literals = columns.map((get) => expected(records.map(get)));
    expect(joinElements([recordElements(records, 0, records.length, policyId)])).toEqual(literals);
    // Built in slices (one per event-loop turn), the same literals.
    expect(
      joinElements([
        recordElements(records, 0, 2, policyId),
        recordElements(records, 2, 5, policyId),
        recordElements(records, 5, records.length, policyId),
      ]),
    ).toEqual(literals);
    const rows = rollupRows(records);
    expect(rollupArrays(rows)).toEqual(rows[0].map((_, c) => expected(rows.map((r) => r[c]))));
  });
});
