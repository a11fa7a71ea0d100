import { clusterStatus, type ObservedCluster } from './cluster-status.js';
import { mergeConditions, statusMergePatch } from './conditions.js';

const readyPod = (name: string, component: string) => ({
  metadata: { name, labels: { 'app.kubernetes.io/component': component } },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
});
const HASH = `sha256:${'a'.repeat(64)}`;

function observed(over: Partial<ObservedCluster> = {}): ObservedCluster {
  return {
    generation: 3,
    policyHash: HASH,
    masterDeployment: { metadata: { name: 'corp-master' }, spec: { replicas: 1 }, status: { availableReplicas: 1 } },
    masterPods: [readyPod('corp-master-x', 'master')],
    statefulSet: {
      metadata: { name: 'corp-slave' },
      spec: { replicas: 2, selector: { matchLabels: { b: '2', a: '1' } } },
      status: { replicas: 2 },
    },
    desiredFallback: 2,
    slavePods: [readyPod('corp-slave-0', 'slave'), readyPod('corp-slave-1', 'slave')],
    proxyService: { spec: { clusterIP: '10.96.0.20' }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } },
    proxyPort: 3128,
    masterURL: 'http://corp-master.ns.svc:8888',
    registry: {
      ok: true,
      slaves: [
        { name: 'corp-slave-0', policyHash: HASH, inSync: true, state: 'online' },
        { name: 'corp-slave-1', policyHash: HASH, inSync: true, state: 'online' },
      ],
    },
    now: '2026-12-02T04:00:00Z',
    ...over,
  };
}

const cond = (s: Record<string, unknown>, type: string) =>
  (s.conditions as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === type)!;

describe('clusterStatus', () => {
  it('is Ready when master, slaves and policy agree, with the scale fields and endpoint', () => {
    const s = clusterStatus(observed());
    expect(s).toMatchObject({
      observedGeneration: 3,
      policyHash: HASH,
      policyHashShort: 'aaaaaaaaaaaa',
      slaves: { desired: 2, ready: 2, synced: 2, summary: '2/2' },
      replicas: 2,
      selector: 'a=1,b=2',
      proxyEndpoint: '203.0.113.7:3128',
    });
    for (const t of ['Ready', 'MasterAvailable', 'SlavesAvailable', 'PolicySynced'])
      expect(cond(s, t).status).toBe('True');
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('names an unschedulable master pod as the reason', () => {
    const pending = {
      metadata: { name: 'corp-master-y' },
      status: {
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available' },
        ],
      },
    };
    const s = clusterStatus(
      observed({
        masterDeployment: { metadata: { name: 'corp-master' }, status: { availableReplicas: 0 } },
        masterPods: [pending],
        registry: undefined,
      }),
    );
    expect(cond(s, 'MasterAvailable')).toMatchObject({ status: 'False', reason: 'PodUnschedulable' });
    expect(cond(s, 'MasterAvailable').message).toContain('0/3 nodes are available');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'PodUnschedulable' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'MasterUnavailable' });
    expect(cond(s, 'PolicySynced')).toMatchObject({ status: 'Unknown', reason: 'MasterUnavailable' });
  });

  it('counts only ready slaves enforcing the current hash', () => {
    const s = clusterStatus(
      observed({
        registry: {
          ok: true,
          slaves: [
            { name: 'corp-slave-0', policyHash: HASH, inSync: true, state: 'online' },
            { name: 'corp-slave-1', policyHash: 'sha256:old', inSync: false, state: 'online' },
          ],
        },
      }),
    );
    expect(s.slaves).toMatchObject({ synced: 1 });
    expect(cond(s, 'PolicySynced')).toMatchObject({ status: 'False', reason: 'SlavesBehind' });
    expect(cond(s, 'PolicySynced').message).toContain('corp-slave-1');
  });

  it('says the master is unreachable rather than guessing', () => {
    const s = clusterStatus(observed({ registry: { ok: false, error: 'ENOTFOUND' } }));
    expect(cond(s, 'PolicySynced')).toMatchObject({ status: 'Unknown', reason: 'MasterUnreachable' });
  });

  it('keeps the wording of an unreachable master while it stays unreachable', () => {
    const first = clusterStatus(observed({ registry: { ok: false, error: 'ENOTFOUND' } }));
    const again = clusterStatus(observed({ previous: first, registry: { ok: false, error: 'no answer in 2000 ms' } }));
    expect(cond(again, 'PolicySynced').message).toBe(cond(first, 'PolicySynced').message);
    expect(cond(again, 'PolicySynced').message).toContain('ENOTFOUND');
  });

  it('reports a refused policy as Degraded', () => {
    const s = clusterStatus(observed({ policyRefused: 'bad: rules[0].match.categories[0]: unknown category "x"' }));
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'PolicyRefused' });
  });

  it('uses the desired count of the StatefulSet (set by the HPA)', () => {
    const sts = { metadata: { name: 'corp-slave' }, spec: { replicas: 5 }, status: { replicas: 5 } };
    const s = clusterStatus(observed({ statefulSet: sts }));
    expect(s.slaves).toMatchObject({ desired: 5, ready: 2, summary: '2/5' });
    expect(cond(s, 'SlavesAvailable')).toMatchObject({ status: 'True', reason: 'PartiallyReady' });
    expect(cond(s, 'Ready').status).toBe('False');
  });
});

describe('conditions', () => {
  it('keeps lastTransitionTime while a status holds, moves it when the status changes', () => {
    const first = mergeConditions(undefined, [{ type: 'Ready', status: 'True', reason: 'A', message: 'a' }], 1, 't1');
    const same = mergeConditions(first, [{ type: 'Ready', status: 'True', reason: 'B', message: 'b' }], 1, 't2');
    expect(same[0].lastTransitionTime).toBe('t1');
    const flipped = mergeConditions(same, [{ type: 'Ready', status: 'False', reason: 'C', message: 'c' }], 1, 't3');
    expect(flipped[0].lastTransitionTime).toBe('t3');
  });

  it('patches nothing for an equal status and nulls keys that went away', () => {
    const a = { policyHash: 'x', slaves: { desired: 1, ready: 1 }, proxyEndpoint: 'e' };
    expect(
      statusMergePatch(a, { slaves: { ready: 1, desired: 1 }, policyHash: 'x', proxyEndpoint: 'e' }),
    ).toBeUndefined();
    expect(statusMergePatch(a, { policyHash: 'y', slaves: { desired: 1, ready: 1 } })).toEqual({
      policyHash: 'y',
      proxyEndpoint: null,
    });
  });
});
