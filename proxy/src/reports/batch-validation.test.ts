import type { AccessRecord } from './access-record.js';
import { BatchValidationError, FIELD_CHECKS, validateBatch, validateRecord } from './batch-validation.js';

const good: AccessRecord = {
  time: Date.UTC(2026, 0, 1),
  slave: 's1',
  client: '10.0.0.1',
  method: 'GET',
  host: 'example.com',
  url: 'http://example.com/',
  status: 200,
  bytesUp: 1,
  bytesDown: 2,
  durationMs: 3,
  action: 'allow',
  user: 'alice',
  rule: 'r',
  category: 'c',
  policyHash: 'h',
};
const OPTIONAL = new Set(['user', 'rule', 'category', 'policyHash']);
const VALUES: unknown[] = [
  undefined,
  null,
  '',
  'x',
  'x'.repeat(33),
  'x'.repeat(513),
  'x'.repeat(8193),
  'allow',
  'deny',
  'redirect',
  'block',
  0,
  -1,
  1.5,
  200,
  999,
  1000,
  Date.UTC(2026, 0, 1),
  946_684_799_999,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  NaN,
  Infinity,
  true,
  {},
  [],
  '200',
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
        const problem =
          value === undefined || value === null
            ? OPTIONAL.has(key)
              ? undefined
              : FIELD_CHECKS[key](value)
            : FIELD_CHECKS[key](value);
        const expected = problem
          ? `${key}: records[0].${key}: ${problem}`
          : key === 'slave' && value !== 's1'
            ? `slave: records[0].slave: "${String(value)}" does not match the batch's slave "s1"`
            : 'ok';
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
    expect(validateRecord({ ...required, host: 'Example.COM', user: null, future: 1 }, 0, 's1')).toStrictEqual({
      ...required,
      host: 'example.com',
    });
    expect(validateBatch({ batchId: 'b1', slave: 's1', records: [good] }, 's1', 10)).toStrictEqual({
      batchId: 'b1',
      slave: 's1',
      records: [good],
    });
  });
});

describe('validateBatch with rows', () => {
  const columns = [
    'time',
    'client',
    'method',
    'host',
    'url',
    'status',
    'bytesUp',
    'bytesDown',
    'durationMs',
    'action',
    'user',
    'rule',
    'category',
    'policyHash',
  ];
  const row = (over: Partial<Record<string, unknown>> = {}) =>
    columns.map((c) => (c in over ? over[c] : c === 'policyHash' ? 7 : good[c as keyof AccessRecord]));
  const batch = (extra: Record<string, unknown>) => ({
    batchId: 'b1',
    slave: 's1',
    columns,
    policyHashes: { 7: 'h' },
    ...extra,
  });
  const refusal = (body: unknown): string => {
    try {
      validateBatch(body, 's1', 10);
      return 'ok';
    } catch (err) {
      return err instanceof BatchValidationError ? err.message : `unexpected ${String(err)}`;
    }
  };

  it('reads rows by column name, the slave from the batch and the policy hash from its key', () => {
    expect(
      validateBatch(batch({ rows: [row(), row({ user: null, policyHash: null })] }), 's1', 10).records,
    ).toStrictEqual([good, (({ user: _u, policyHash: _p, ...rest }) => rest)(good)]);
    // Columns in another order, an unknown one, the optional ones absent.
    const reordered = ['future', ...columns.slice(0, 10).reverse()];
    const r = reordered.map((c) => (c === 'future' ? [1, 2] : good[c as keyof AccessRecord]));
    const { user: _u, rule: _r, category: _c, policyHash: _p, ...required } = good;
    expect(
      validateBatch({ batchId: 'b1', slave: 's1', columns: reordered, rows: [r] }, 's1', 10).records,
    ).toStrictEqual([required]);
  });

  it.each([
    [{ rows: [row({ status: 'x' })] }, 'rows[0].status: expected an integer, got "x"'],
    [{ rows: [row(), row({ host: '' })] }, 'rows[1].host: must not be empty'],
    [{ rows: [row().slice(1)] }, 'rows[0]: expected an array of 14 values (one per column), got an array of 13'],
    [{ rows: [{}] }, 'rows[0]: expected an array of 14 values (one per column), got an object'],
    [{ rows: [row({ policyHash: 8 })] }, "rows[0].policyHash: 8 is not a key of the batch's policyHashes"],
    [{ rows: [row({ policyHash: 'h' })] }, 'rows[0].policyHash: "h" is not a key of the batch\'s policyHashes'],
    [{ rows: [row()], policyHashes: { 7: '' } }, 'policyHashes["7"]: must not be empty'],
    [{ rows: [row()], policyHashes: ['h'] }, 'policyHashes: expected an object of key: hash, got an array'],
    [
      { rows: [row()], columns: columns.slice(1) },
      expect.stringMatching(/^columns: "time" is missing; rows need time, client/),
    ],
    [{ rows: [row()], columns: [...columns, 'url'] }, 'columns[14]: "url" is named twice'],
    [{ rows: [row()], columns: 'time' }, 'columns: expected an array of 1-64 column names, got "time"'],
    [{ rows: [row()], records: [good] }, 'batch: has both "rows" and "records"; send one of them'],
    [{ rows: Array.from({ length: 11 }, () => row()) }, 'rows: 11 records, at most 10 per batch'],
    [{ rows: 'x' }, 'rows: expected an array, got "x"'],
  ])('refuses %j: %s', (extra, message) => {
    expect(refusal(batch(extra))).toEqual(message);
  });
});
