import { APPLIED_HASH_ANNOTATION, isSubset, prepareForApply, sameQuantity, upToDate } from './apply.js';

describe('sameQuantity', () => {
  it.each([
    ['500m', '0.5', true],
    ['1Gi', '1073741824', true],
    ['1G', '1Gi', false],
    ['100m', '100m', true],
    ['abc', 'abc', false],
    ['2', '2000m', true],
  ])('%s vs %s', (a, b, same) => expect(sameQuantity(a, b)).toBe(same));
});

describe('isSubset', () => {
  it('ignores what the server added, not what it changed', () => {
    const desired = { spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } };
    const live = {
      spec: {
        replicas: 1,
        revisionHistoryLimit: 10,
        template: { spec: { containers: [{ name: 'a', image: 'x', imagePullPolicy: 'IfNotPresent' }] } },
      },
    };
    expect(isSubset(desired, live)).toBe(true);
    expect(isSubset(desired, { ...live, spec: { ...live.spec, replicas: 3 } })).toBe(false);
  });

  it('treats an extra list element as drift', () => {
    expect(isSubset({ ports: [{ port: 1 }] }, { ports: [{ port: 1 }, { port: 2 }] })).toBe(false);
  });

  it('accepts canonicalised quantities and dropped empty objects', () => {
    expect(isSubset({ cpu: '0.5', emptyDir: {}, env: [] }, { cpu: '500m' })).toBe(true);
    expect(isSubset({ env: [] }, { env: [{ name: 'A' }] })).toBe(false);
  });
});

describe('prepareForApply and upToDate', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'n' }, data: { k: 'v' } };

  it('annotates the intent hash; the same object is up to date, a dropped field is not', () => {
    const p = prepareForApply(cm);
    const hash = p.metadata!.annotations![APPLIED_HASH_ANNOTATION];
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    const live = { ...p, metadata: { ...p.metadata, resourceVersion: '5', uid: 'u' } };
    expect(upToDate(p, live)).toBe(true);
    const fewer = prepareForApply({ ...cm, data: {} });
    expect(upToDate(fewer, live)).toBe(false);
    expect(upToDate(p, { ...live, data: { k: 'edited' } })).toBe(false);
    expect(upToDate(p, undefined)).toBe(false);
  });

  it('folds Secret stringData into data', () => {
    const p = prepareForApply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      stringData: { token: 'abc' },
    });
    expect(p.stringData).toBeUndefined();
    expect(p.data).toEqual({ token: Buffer.from('abc').toString('base64') });
  });
});
