import { bundleHash } from './bundle.js';
import {
  canonicalJson,
  compilePolicy,
  compilePolicyBundle,
  loadCompiledPolicy,
  parsePolicyDocuments,
  PolicyValidationError,
  type PolicyBundle,
} from './index.js';

const manifest = `
apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata: {name: corp, labels: {gateway: corp}}
spec:
  priority: 10
  categories: [{name: social, domains: [facebook.com]}]
  rules:
    - {name: no-social, action: deny, match: {categories: [social]}}
`;

describe('parsePolicyDocuments', () => {
  test('a PolicySet manifest takes its name from metadata.name', () => {
    const [set] = parsePolicyDocuments(manifest, '/etc/policy/corp.yaml');
    expect(set.name).toBe('corp');
    expect(set.origin).toBe('/etc/policy/corp.yaml');
    expect(set.spec.rules?.[0].name).toBe('no-social');
  });

  test('bare specs take their name from the file, with the document number when there are several', () => {
    expect(parsePolicyDocuments('rules: []\n', 'dir/Team Rules.yaml').map((s) => s.name)).toEqual(['team-rules']);
    expect(parsePolicyDocuments('---\nrules: []\n---\n', 'one.yaml').map((s) => s.name)).toEqual(['one']);
    const text = `rules: []\n---\n${manifest}\n---\npriority: 3\n---\n`;
    expect(parsePolicyDocuments(text, 'base.yml').map((s) => s.name)).toEqual(['base-1', 'corp', 'base-3']);
  });

  test('JSON is accepted', () => {
    const [set] = parsePolicyDocuments(
      JSON.stringify({
        apiVersion: 'safesquid.io/v1alpha1',
        kind: 'PolicySet',
        metadata: { name: 'j' },
        spec: { priority: 1 },
      }),
      'j.json',
    );
    expect(set).toMatchObject({ name: 'j', spec: { priority: 1 } });
  });

  test('a List of PolicySets (kubectl get -o yaml) is accepted', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'safesquid.io/v1alpha1', kind: 'PolicySet', metadata: { name: 'a' }, spec: {} },
        { apiVersion: 'safesquid.io/v1alpha1', kind: 'PolicySet', metadata: { name: 'b' }, spec: {} },
      ],
    });
    expect(parsePolicyDocuments(text, 'list.json').map((s) => s.name)).toEqual(['a', 'b']);
  });

  test('a compiled PolicyBundle round-trips', () => {
    const bundle = compilePolicyBundle(parsePolicyDocuments(manifest, 'corp.yaml'));
    const sets = parsePolicyDocuments(JSON.stringify(bundle), 'bundle.json');
    expect(compilePolicyBundle(sets).hash).toBe(bundle.hash);
  });

  test.each([
    ['YAML syntax', 'rules: [\n', /^x\.yaml: line \d+, column \d+: /],
    ['duplicate keys', 'priority: 1\npriority: 2\n', /^x\.yaml: line 2, column 1: Map keys must be unique/],
    ['a scalar document', '42\n', /^x\.yaml: expected a PolicySet manifest or spec \(an object\), got number$/],
    [
      'wrong apiVersion',
      'apiVersion: v1\nkind: PolicySet\nmetadata: {name: a}\nspec: {}\n',
      /unsupported apiVersion "v1" \(expected safesquid\.io\/v1alpha1\)/,
    ],
    [
      'wrong kind',
      'apiVersion: safesquid.io/v1alpha1\nkind: SafeSquidCluster\nspec: {}\n',
      /unsupported kind "SafeSquidCluster"/,
    ],
    [
      'manifest without a name',
      'apiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nspec: {}\n',
      /metadata\.name: required/,
    ],
    // A manifest that lost its header is said to be one, not read as a spec with unknown fields.
    [
      'manifest without apiVersion and kind',
      'metadata: {name: a}\nspec: {rules: []}\n',
      /^x\.yaml: apiVersion and kind: required for a PolicySet manifest \(add "apiVersion: safesquid\.io\/v1alpha1" and "kind: PolicySet"\), or give the spec's fields alone$/,
    ],
    [
      'spec without apiVersion and kind',
      'spec: {rules: []}\n',
      /apiVersion and kind: required for a PolicySet manifest/,
    ],
    [
      'manifest without apiVersion',
      'kind: PolicySet\nmetadata: {name: a}\nspec: {}\n',
      /^x\.yaml: apiVersion: required \(add "apiVersion: safesquid\.io\/v1alpha1"\)$/,
    ],
    [
      'manifest without kind',
      'apiVersion: safesquid.io/v1alpha1\nmetadata: {name: a}\nspec: {}\n',
      /^x\.yaml: kind: required \(PolicySet, List or PolicyBundle\)$/,
    ],
    [
      'manifest without a spec',
      'apiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nmetadata: {name: a}\n',
      /spec: required \(PolicySet "a"\)/,
    ],
    [
      'an alias bomb',
      'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      /^x\.yaml: .*alias/i,
    ],
    [
      'second document bad',
      'rules: []\n---\n[1, 2]\n',
      /^x\.yaml \(document 2\): expected a PolicySet manifest or spec \(an object\), got a list$/,
    ],
  ])('%s is an error naming the file', (_name, text, pattern) => {
    expect(() => parsePolicyDocuments(text, 'x.yaml')).toThrow(PolicyValidationError);
    try {
      parsePolicyDocuments(text, 'x.yaml');
    } catch (err) {
      expect((err as PolicyValidationError).message.split('\n')[1]).toMatch(pattern);
    }
  });
});

describe('bundle', () => {
  const sets = parsePolicyDocuments(manifest, 'corp.yaml');

  test('is JSON-serialisable, ordered, and carries a sha256 hash', () => {
    const bundle = compilePolicyBundle([
      { name: 'zz', spec: { priority: 1 } },
      ...sets,
      { name: 'aa', spec: { priority: 10 } },
    ]);
    expect(bundle).toMatchObject({ apiVersion: 'safesquid.io/v1alpha1', kind: 'PolicyBundle' });
    expect(bundle.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(bundle.policySets.map((s) => `${s.priority}/${s.name}`)).toEqual(['1/zz', '10/aa', '10/corp']);
    expect(JSON.parse(JSON.stringify(bundle))).toEqual(bundle);
  });

  test('same content, same hash, whatever the key order or the input order', () => {
    const reordered = parsePolicyDocuments(
      `spec:\n  rules:\n    - {match: {categories: [social]}, action: deny, name: no-social}\n  categories: [{domains: [facebook.com], name: social}]\n  priority: 10\nmetadata: {labels: {other: x}, name: corp}\nkind: PolicySet\napiVersion: safesquid.io/v1alpha1\n`,
      'other-file.yaml',
    );
    const a = compilePolicyBundle([...sets, { name: 'b', spec: {} }]);
    const b = compilePolicyBundle([{ name: 'b', spec: {} }, ...reordered]);
    expect(b.hash).toBe(a.hash);
  });

  test('different content, different hash', () => {
    const a = compilePolicyBundle(sets);
    const changed = structuredClone(sets);
    changed[0].spec.rules![0].action = 'allow';
    expect(compilePolicyBundle(changed).hash).not.toBe(a.hash);
  });

  test('canonicalJson sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: [3, { d: 1, c: 2 }], a: undefined, c: null })).toBe('{"b":[3,{"c":2,"d":1}],"c":null}');
  });

  test('loadCompiledPolicy accepts an intact bundle and decides as compilePolicy does', () => {
    const bundle = JSON.parse(JSON.stringify(compilePolicyBundle(sets))) as PolicyBundle;
    const loaded = loadCompiledPolicy(bundle);
    const direct = compilePolicy(sets);
    const r = {
      clientIp: '10.0.0.1',
      method: 'GET',
      host: 'facebook.com',
      port: 443,
      path: '/',
      scheme: 'https' as const,
      headers: {},
    };
    expect(loaded.hash).toBe(direct.hash);
    expect(loaded.evaluateRequest(r)).toEqual(direct.evaluateRequest(r));
  });

  test.each<[string, (b: PolicyBundle) => void, RegExp]>([
    [
      'tampered content',
      (b) => (b.policySets[0].spec.rules![0].action = 'allow'),
      /hash: hash mismatch: the bundle declares sha256:\w+ but its content hashes to sha256:\w+/,
    ],
    ['tampered hash', (b) => (b.hash = 'sha256:' + '0'.repeat(64)), /hash mismatch/],
    ['malformed hash', (b) => (b.hash = 'md5:abc'), /hash: expected "sha256:<64 hex digits>"/],
    ['wrong kind', (b) => ((b as { kind: string }).kind = 'PolicySet'), /kind: expected PolicyBundle, got "PolicySet"/],
    [
      'wrong apiVersion',
      (b) => ((b as { apiVersion: string }).apiVersion = 'v2'),
      /apiVersion: expected safesquid\.io\/v1alpha1/,
    ],
    [
      'priority out of step with spec',
      (b) => (b.policySets[0].priority = 3),
      /corp: priority: bundle says 3, spec says 10/,
    ],
  ])('loadCompiledPolicy rejects a bundle with %s', (_name, mutate, pattern) => {
    const bundle = structuredClone(compilePolicyBundle(sets));
    mutate(bundle);
    expect(() => loadCompiledPolicy(bundle)).toThrow(pattern);
  });

  test('loadCompiledPolicy rejects a re-hashed bundle whose content is invalid, out of order or has a forged restriction', () => {
    const good = compilePolicyBundle([...sets, { name: 'z', spec: { priority: 20 } }]);
    const rehash = (b: PolicyBundle) => {
      const { hash: _hash, ...body } = b;
      b.hash = bundleHash(body);
      return b;
    };
    const invalid = structuredClone(good);
    invalid.policySets[0].spec.rules![0].match = { categories: ['nope'] };
    expect(() => loadCompiledPolicy(rehash(invalid))).toThrow(/unknown category "nope"/);
    const swapped = structuredClone(good);
    swapped.policySets.reverse();
    expect(() => loadCompiledPolicy(rehash(swapped))).toThrow(/not in priority-then-name order/);
    const forged = structuredClone(good);
    forged.accessRestriction.defaultAction = 'allow';
    expect(() => loadCompiledPolicy(rehash(forged))).toThrow(/accessRestriction: does not match/);
  });
});
