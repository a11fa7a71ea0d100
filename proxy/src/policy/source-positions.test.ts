import { LineCounter, parseDocument } from 'yaml';
import { compilePolicyBundle, locateIssues, parsePolicyDocuments, PolicyValidationError } from './index.js';
import { nodeLocator, pathKeys } from './source-positions.js';

/** The issues of compiling `text`, with the positions the portal answers with. */
function locatedIssues(text: string): { policySet: string; path: string; line?: number; column?: number }[] {
  const sources = parsePolicyDocuments(text, 'editor');
  try {
    compilePolicyBundle(sources);
  } catch (err) {
    if (!(err instanceof PolicyValidationError)) throw err;
    return locateIssues(err.issues, sources).map(({ policySet, path, line, column }) => ({
      policySet,
      path,
      line,
      column,
    }));
  }
  throw new Error('expected the policy to be refused');
}

test.each([
  ['rules', ['rules']],
  ['rules[3].match.urlRegex', ['rules', 3, 'match', 'urlRegex']],
  ['categories[0].domains[12]', ['categories', 0, 'domains', 12]],
  ['', []],
])('pathKeys(%j)', (path, keys) => {
  expect(pathKeys(path)).toEqual(keys);
});

test('a missing field points at the deepest part of its path that exists', () => {
  const lines = new LineCounter();
  const doc = parseDocument('rules:\n  - name: r\n    match:\n      domains: [a.test]\n', { lineCounter: lines });
  const locate = nodeLocator(doc.contents, lines);
  expect(locate('rules[0].match.domains[0]')).toEqual({ line: 4, column: 17 });
  expect(locate('rules[0].action')).toEqual({ line: 2, column: 5 });
  expect(locate('rules[7].name')).toEqual({ line: 2, column: 3 });
});

describe('issues from policy text carry the line and column of their field', () => {
  test('a manifest among several documents', () => {
    const text = [
      'apiVersion: safesquid.io/v1alpha1',
      'kind: PolicySet',
      'metadata: {name: first}',
      'spec:',
      '  rules: []',
      '---',
      'apiVersion: safesquid.io/v1alpha1',
      'kind: PolicySet',
      'metadata:',
      '  name: second',
      'spec:',
      '  rules:',
      '    - name: bad-regex',
      '      action: deny',
      '      match:',
      '        urlRegex: "(unclosed"',
    ].join('\n');
    expect(locatedIssues(text)).toEqual([
      { policySet: 'second', path: 'rules[0].match.urlRegex', line: 16, column: 19 },
    ]);
  });

  test('a bare spec, JSON included (JSON is YAML to the parser)', () => {
    const json = '{\n  "rules": [\n    {"name": "r", "action": "explode"}\n  ]\n}';
    const [issue] = locatedIssues(json);
    expect(issue).toMatchObject({ path: 'rules[0].action', line: 3, column: 29 });
  });

  test('an item of a List', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '  - apiVersion: safesquid.io/v1alpha1',
      '    kind: PolicySet',
      '    metadata: {name: listed}',
      '    spec:',
      '      rules:',
      '        - {name: r, action: deny, match: {categories: [nowhere]}}',
    ].join('\n');
    expect(locatedIssues(text)).toEqual([
      { policySet: 'listed', path: 'rules[0].match.categories[0]', line: 9, column: 56 },
    ]);
  });

  test('a YAML syntax error has its position as fields too', () => {
    try {
      parsePolicyDocuments('rules:\n  - name: r\n   action: [deny\n', 'editor');
      throw new Error('expected a parse error');
    } catch (err) {
      expect((err as PolicyValidationError).issues[0]).toMatchObject({
        line: expect.any(Number),
        column: expect.any(Number),
      });
    }
  });
});
