import { applyClusterDefaults, validateClusterSpec } from './validation.js';
import { safeSquidClusterSpecSchema, type SafeSquidClusterSpec } from './safesquid-cluster.js';

const minimal: SafeSquidClusterSpec = { policySelector: { matchLabels: { gateway: 'corp' } } };

/** Every path under which the schema declares a `default`, reached through defaulted parents. */
function defaultedPaths(schema: Record<string, unknown>, path: string[] = []): string[][] {
  const out: string[][] = [];
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [key, child] of Object.entries(props)) {
    if (child.default === undefined) continue;
    out.push([...path, key]);
    out.push(...defaultedPaths(child, [...path, key]));
  }
  return out;
}

function at(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);
}

describe('applyClusterDefaults', () => {
  it('fills every default the schema declares (the same values, not a second copy)', () => {
    const spec = applyClusterDefaults(minimal);
    const paths = defaultedPaths(safeSquidClusterSpecSchema as unknown as Record<string, unknown>);
    expect(paths.length).toBeGreaterThan(15);
    for (const path of paths) expect([path.join('.'), at(spec, path)]).not.toEqual([path.join('.'), undefined]);
  });

  it.each([
    ['master.portalPort', 8888],
    ['slaves.proxyPort', 3128],
    ['slaves.metricsPort', 9090],
    ['slaves.minReplicas', 2],
    ['slaves.maxReplicas', 10],
    ['slaves.targetCPUUtilizationPercentage', 70],
    ['slaves.service.type', 'LoadBalancer'],
    ['slaves.podDisruptionBudget.maxUnavailable', 1],
    ['slaves.scaleDown.stabilizationWindowSeconds', 300],
    ['slaves.scaleDown.podsPerMinute', 1],
    ['reports.retentionDays', 90],
    ['imagePullPolicy', 'IfNotPresent'],
    ['master.storage.size', '10Gi'],
  ])('%s defaults to %p', (path, value) => {
    expect(at(applyClusterDefaults(minimal), path.split('.'))).toEqual(value);
  });

  it('keeps what the user wrote and does not touch its argument', () => {
    const spec: SafeSquidClusterSpec = { ...minimal, slaves: { proxyPort: 8080, replicas: 3, spool: { size: '5Gi' } } };
    const before = structuredClone(spec);
    const out = applyClusterDefaults(spec);
    expect(spec).toEqual(before);
    expect(out.slaves.proxyPort).toBe(8080);
    expect(out.slaves.replicas).toBe(3);
    expect(out.slaves.spool).toEqual({ size: '5Gi', retainOnDelete: true });
  });

  it('never merges a default into a field that is present (as the API server)', () => {
    const out = applyClusterDefaults({ ...minimal, slaves: { resources: { requests: { cpu: '1' } } } });
    expect(out.slaves.resources).toEqual({ requests: { cpu: '1' } });
  });

  it('leaves optional parts out: spool (emptyDir), auth, storage when PostgreSQL is chosen', () => {
    const out = applyClusterDefaults({ ...minimal, master: { postgres: { secretRef: { name: 'pg' } } } });
    expect(out.slaves.spool).toBeUndefined();
    expect(out.auth).toBeUndefined();
    expect(out.master.storage).toBeUndefined();
    expect(out.master.postgres).toEqual({ secretRef: { name: 'pg', key: 'url' } });
    expect(out.slaves.replicas).toBeUndefined();
  });
});

describe('validateClusterSpec', () => {
  it('accepts a minimal and a full spec', () => {
    expect(validateClusterSpec(minimal)).toEqual([]);
    expect(validateClusterSpec(applyClusterDefaults(minimal))).toEqual([]);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['no selector', {}, 'spec.policySelector', /required/i],
    ['port out of range', { ...minimal, slaves: { proxyPort: 70000 } }, 'spec.slaves.proxyPort', /65535/],
    [
      'unknown service type',
      { ...minimal, slaves: { service: { type: 'Ingress' } } },
      'spec.slaves.service.type',
      /one of "ClusterIP", "NodePort", "LoadBalancer"/,
    ],
    ['bad quantity', { ...minimal, master: { storage: { size: 'ten gigs' } } }, 'spec.master.storage.size', /quantity/],
    [
      'bad resources',
      { ...minimal, slaves: { resources: { limits: { memory: '1 GB' } } } },
      'spec.slaves.resources.limits',
      /quantity/,
    ],
    ['replicas below 0', { ...minimal, slaves: { replicas: -1 } }, 'spec.slaves.replicas', /0/],
    [
      'a scale-down window over an hour',
      { ...minimal, slaves: { scaleDown: { stabilizationWindowSeconds: 3601 } } },
      'spec.slaves.scaleDown.stabilizationWindowSeconds',
      /3600/,
    ],
    [
      'no slave removed per minute',
      { ...minimal, slaves: { scaleDown: { podsPerMinute: 0 } } },
      'spec.slaves.scaleDown.podsPerMinute',
      /1/,
    ],
    [
      'a quantity that is not one',
      { ...minimal, slaves: { spool: { size: true } } },
      'spec.slaves.spool.size',
      /integer or a quantity/,
    ],
    [
      'labels that are not strings',
      { policySelector: { matchLabels: { gateway: 1 } } },
      'spec.policySelector.matchLabels',
      /map of strings/,
    ],
    [
      'bad secret name',
      { ...minimal, auth: { basic: { secretRef: { name: 'Proxy_Users' } } } },
      'spec.auth.basic.secretRef.name',
      /match/,
    ],
  ])('%s is refused naming the field', (_what, spec, path, message) => {
    const issues = validateClusterSpec(spec);
    expect(issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(message) })]),
    );
  });
});
