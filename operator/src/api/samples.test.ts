import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { compilePolicyBundle } from '@safesquid/proxy/policy';
import { applyClusterDefaults, validateClusterSpec, validatePolicySetResources } from './validation.js';
import type { PolicySet } from './policy-set.js';
import type { SafeSquidCluster } from './safesquid-cluster.js';

const dir = join(__dirname, '../../../deploy/samples');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects = files.flatMap((f) =>
  parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string; labels?: Record<string, string> } },
  ),
);
const clusters = objects.filter((o) => o.kind === 'SafeSquidCluster') as unknown as SafeSquidCluster[];
const policySets = objects.filter((o) => o.kind === 'PolicySet') as unknown as PolicySet[];

describe('deploy/samples', () => {
  it('kustomization.yaml lists every manifest', () => {
    const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as {
      resources: string[];
    };
    expect([...kustomization.resources].sort()).toEqual([...files].sort());
  });

  it('holds SafeSquidCluster corp and two PolicySets', () => {
    expect(clusters.map((c) => c.metadata.name)).toEqual(['corp']);
    expect(policySets).toHaveLength(2);
  });

  it('the cluster validates against the schema, with and without defaults', () => {
    expect(validateClusterSpec(clusters[0].spec)).toEqual([]);
    expect(validateClusterSpec(applyClusterDefaults(clusters[0].spec))).toEqual([]);
  });

  it('the PolicySets are valid for the engine together and compile to one bundle', () => {
    expect(validatePolicySetResources(policySets)).toEqual([]);
    const bundle = compilePolicyBundle(policySets.map((p) => ({ name: p.metadata.name, spec: p.spec })));
    expect(bundle.policySets.map((p) => p.name)).toEqual(['corp-downloads', 'corp-baseline']);
  });

  it('the cluster selects both PolicySets by label', () => {
    const selector = clusters[0].spec.policySelector.matchLabels ?? {};
    for (const p of policySets)
      expect(Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v)).toBe(true);
  });
});
