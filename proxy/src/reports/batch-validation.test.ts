import type { AccessRecord } from './access-record.js';
import { BatchValidationError, FIELD_CHECKS, validateBatch, validateRecord } from './batch-validation.js';

const good: AccessRecord = {
  time: Date.UTC(2026, 0, 1), slave: 's1', client: '10.0.0.1', method: 'GET', host: 'example.com',
  url: 'http://example.com/', status: 200, bytesUp: 1, bytesDown: 2, durationMs: 3, action: 'allow',
  user: 'alice', rule: 'r', category: 'c', policyHash: 'h',
};
const OPTIONAL = new Set(['user', 'rule', 'category', 'policyHash']);
const VALUES: unknown[] = [
  undefined, null, '', 'x', 'x'.repeat(33), 'x'.repeat(513), 'x'.repeat(8193), 'allow', 'deny', 'redirect', 'block',
  0, -1, 1.5, 200, 999, 1000, Date.UTC(2026, 0, 1), 946_684_799_999, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2,
  NaN, Infinity, true, {}, [], '200',
];

function outcome(record: unknown): string {
  try {
    validateRecord(record, 0, 's1');
    return 'ok';
  } catch (err) {
    return err instanceof BatchValidationError ? `${err.field}: ${err.message}` : `unexpected ${String(err)}`;
  }
}

describe('validateRecord', () => {
  it('refuses exactly the values its field check names, with that check message, for every field', () => {
    for (const key of Object.keys(FIELD_CHECKS) as (keyof AccessRecord)[]) {
      for (const value of VALUES) {
        const problem = value === undefined || value === null
          ? (OPTIONAL.has(key) ? undefined : FIELD_CHECKS[key](value))
          : FIELD_CHECKS[key](value);
        const expected = problem
          ? `${key}: records[0].${key}: ${problem}`
          : key === 'slave' && value !== 's1' ? `slave: records[0].slave: "${String(value)}" does not match the batch's slave "s1"` : 'ok';
        expect([key, value, outcome({ ...good, [key]: value })]).toEqual([key, value, expected]);
      }
    }
  });

  it('names the first bad field in record order, the slave mismatch before optional fields', () => {
    expect(outcome({ ...good, url: 5, status: 'x' })).toMatch(/^url:/);
    expect(outcome({ ...good, slave: 's2', user: 5 })).toMatch(/^slave: .*does not match/);
    expect(outcome({ ...good, slave: 's2', time: 5 })).toMatch(/^time:/);
    expect(outcome('x')).toBe('records[0]: records[0]: expected an object, got "x"');
  });

  it('keeps known fields only, lower-cases the host and leaves absent optional fields out', () => {
    const { user: _u, rule: _r, category: _c, policyHash: _p, ...required } = good;
    expect(validateRecord({ ...required, host: 'Example.COM', user: null, future: 1 }, 0, 's1')).toStrictEqual({ ...required, host: 'example.com' });
    expect(validateBatch({ batchId: 'b1', slave: 's1', records: [good] }, 's1', 10)).toStrictEqual({ batchId: 'b1', slave: 's1', records: [good] });
  });
});
