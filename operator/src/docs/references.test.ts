import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceFiles } from './references.js';
import { fieldRows } from './schema-reference.js';
import { policySetSpecSchema } from '../api/index.js';

const repo = join(__dirname, '../../..');

describe('docs/reference', () => {
  it.each(Object.entries(referenceFiles()))('%s matches the schema (run `make docs` when it does not)', (file, text) => {
    let committed = '';
    try {
      committed = readFileSync(join(repo, file), 'utf8');
    } catch {
      // missing: the comparison below fails with the whole expected text
    }
    expect(committed).toBe(text);
  });

  it('lists every field with its type, default and bounds', () => {
    const { rows, rules } = fieldRows(policySetSpecSchema as never, 'spec');
    const byPath = new Map(rows.map((r) => [r.path, r]));
    expect(byPath.get('spec.priority')).toMatchObject({ type: 'integer', default: 100, constraints: ['-1000000 to 1000000'] });
    expect(byPath.get('spec.rules[].action')).toMatchObject({ type: 'string', required: true, constraints: ['one of `allow`, `deny`, `redirect`'] });
    expect(byPath.get('spec.rules[].match.ports')?.constraints).toContain('each: 1 to 65535');
    expect(byPath.get('spec.accessRestriction.defaultAction')?.default).toBe('deny');
    expect(byPath.has('spec.timeProfiles[].timeZone')).toBe(true);
    expect(rules.length).toBeGreaterThan(0);
  });
});
