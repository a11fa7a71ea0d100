import { buildSecrets, generateSecretValue, secretRefs } from './secrets.js';
import { buildPolicyConfigMap, POLICY_HASH_ANNOTATION } from './policy-configmap.js';
import { bundle, clusterRef } from './test-fixture.js';

describe('Secrets', () => {
  it('builds <name>-sync-token (token) and <name>-admin (password, token) from the given values', () => {
    const [sync, admin] = buildSecrets(clusterRef(), { syncToken: 'S', adminPassword: 'P', adminToken: 'T' });
    expect(sync).toMatchObject({
      kind: 'Secret',
      metadata: { name: 'corp-sync-token' },
      type: 'Opaque',
      stringData: { token: 'S' },
    });
    expect(admin).toMatchObject({
      kind: 'Secret',
      metadata: { name: 'corp-admin' },
      stringData: { password: 'P', token: 'T' },
    });
  });

  it('builds none that the spec replaces with an existing Secret, and the pods read those', () => {
    const c = clusterRef({ master: { syncTokenSecretRef: { name: 'tok' } } });
    expect(buildSecrets(c, { adminPassword: 'P', adminToken: 'T' }).map((s) => s.metadata.name)).toEqual([
      'corp-admin',
    ]);
    expect(secretRefs(c).syncToken).toEqual({ name: 'tok', key: 'token' });
  });

  it('refuses to build a generated Secret without its value, naming it', () => {
    expect(() => buildSecrets(clusterRef(), { syncToken: 'S', adminPassword: 'P' })).toThrow(/adminToken is required/);
  });

  it('generates distinct 256-bit values', () => {
    const a = generateSecretValue();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateSecretValue()).not.toBe(a);
  });
});

describe('policy ConfigMap', () => {
  it('holds the bundle as canonical JSON under bundle.json with its hash annotated', () => {
    const b = bundle();
    const cm = buildPolicyConfigMap(clusterRef(), b);
    expect(cm.metadata).toMatchObject({ name: 'corp-policy', annotations: { [POLICY_HASH_ANNOTATION]: b.hash } });
    expect(cm.metadata.labels['app.kubernetes.io/component']).toBe('policy');
    const data = (cm as unknown as { data: Record<string, string> }).data;
    expect(Object.keys(data)).toEqual(['bundle.json']);
    expect(JSON.parse(data['bundle.json'])).toEqual(JSON.parse(JSON.stringify(b)));
    // The same bundle built with its keys in another order is the same text: no write when nothing changed.
    const reordered = Object.fromEntries(Object.entries(b).reverse()) as typeof b;
    expect((buildPolicyConfigMap(clusterRef(), reordered) as unknown as { data: Record<string, string> }).data).toEqual(
      data,
    );
  });
});
