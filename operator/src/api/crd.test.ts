import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFiles, policySetCrd, safeSquidClusterCrd } from './crd.js';

const crdsDir = join(__dirname, '../../../crds');

describe('crds/', () => {
  it.each(Object.keys(crdFiles()))('%s is what `make crds` writes (run `make crds` after a schema change)', (name) => {
    expect(readFileSync(join(crdsDir, name), 'utf8')).toBe(crdFiles()[name]);
  });

  it('is deterministic', () => {
    expect(crdFiles()).toEqual(crdFiles());
  });
});

/** Every schema node, with its path. */
function* nodes(schema: Record<string, unknown>, path = '$'): Generator<[string, Record<string, unknown>]> {
  yield [path, schema];
  for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>))
    yield* nodes(child, `${path}.${key}`);
  if (schema.items) yield* nodes(schema.items as Record<string, unknown>, `${path}[]`);
  if (typeof schema.additionalProperties === 'object')
    yield* nodes(schema.additionalProperties as Record<string, unknown>, `${path}{}`);
}

describe.each([
  ['SafeSquidCluster', safeSquidClusterCrd()],
  ['PolicySet', policySetCrd()],
])('%s CRD', (_kind, crd) => {
  const version = (crd.spec.versions as Record<string, unknown>[])[0];
  const root = (version.schema as { openAPIV3Schema: Record<string, unknown> }).openAPIV3Schema;

  it('is a structural schema: every node typed (or int-or-string), no $ref, no anyOf of constants, no additionalProperties beside properties', () => {
    for (const [path, node] of nodes(root)) {
      if (node['x-kubernetes-int-or-string'])
        expect([path, node.anyOf]).toEqual([path, [{ type: 'integer' }, { type: 'string' }]]);
      else expect([path, typeof node.type]).toEqual([path, 'string']);
      expect([path, node.$ref, node.const, node.patternProperties]).toEqual([path, undefined, undefined, undefined]);
      if (node.properties) expect([path, node.additionalProperties]).toEqual([path, undefined]);
    }
  });

  it('has a status subresource, the short name and the safesquid category', () => {
    expect((version.subresources as Record<string, unknown>).status).toEqual({});
    expect((crd.spec.names as { categories: string[] }).categories).toEqual(['safesquid']);
    expect(crd.spec.group).toBe('safesquid.io');
  });
});

it('SafeSquidCluster scales through slaves.minReplicas (always present) and reports the slave selector', () => {
  const version = (safeSquidClusterCrd().spec.versions as Record<string, Record<string, unknown>>[])[0];
  expect(version.subresources.scale).toEqual({
    specReplicasPath: '.spec.slaves.minReplicas',
    statusReplicasPath: '.status.replicas',
    labelSelectorPath: '.status.selector',
  });
  expect((version.additionalPrinterColumns as unknown as { name: string }[]).map((c) => c.name)).toEqual([
    'Ready',
    'Slaves',
    'Synced',
    'Policy',
    'Endpoint',
    'Age',
  ]);
});

it('a CEL rule of the PolicySet CRD sits on every rule and time profile', () => {
  const root = parse(crdFiles()['safesquid.io_policysets.yaml']) as {
    spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] };
  };
  const spec = (
    root.spec.versions[0].schema.openAPIV3Schema.properties as Record<
      string,
      { properties: Record<string, { items: Record<string, unknown> }> }
    >
  ).spec.properties;
  expect(JSON.stringify(spec.rules.items['x-kubernetes-validations'])).toMatch(
    /redirectTo is required when action is redirect/,
  );
  expect(JSON.stringify(spec.timeProfiles.items['x-kubernetes-validations'])).toMatch(/window is empty/);
});
