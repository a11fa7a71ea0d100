import { OperatorMetrics, resourceOfPath, startHealthServer, verbOf } from './metrics.js';

it.each([
  ['/api/v1/namespaces/ns/configmaps/a', 'configmaps'],
  ['/apis/apps/v1/namespaces/ns/deployments', 'deployments'],
  ['/apis/safesquid.io/v1alpha1/namespaces/n/safesquidclusters/c/status', 'safesquidclusters'],
  ['/apis/safesquid.io/v1alpha1/policysets?limit=500', 'policysets'],
  ['/api/v1/pods', 'pods'],
])('resourceOfPath(%s)', (path, resource) => expect(resourceOfPath(path)).toBe(resource));

it.each([
  ['GET', '/api/v1/configmaps?limit=500', 'list'],
  ['GET', '/api/v1/namespaces/n/configmaps', 'list'],
  ['GET', '/api/v1/namespaces/n/configmaps/a', 'get'],
  ['GET', '/apis/coordination.k8s.io/v1/namespaces/n/leases/l', 'get'],
  ['PATCH', '/apis/apps/v1/namespaces/n/deployments/d', 'patch'],
])('verbOf(%s %s)', (method, path, verb) => expect(verbOf(method, path)).toBe(verb));

it('serves /metrics, /healthz and /readyz', async () => {
  const metrics = new OperatorMetrics();
  let ready = false;
  const h = await startHealthServer({ host: '127.0.0.1', port: 0, metrics, ready: () => ready });
  try {
    metrics.reconciles.inc({ kind: 'SafeSquidCluster', result: 'success' });
    const get = (p: string) => fetch(`http://${h.address}${p}`);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    const text = await (await get('/metrics')).text();
    expect(text).toContain('safesquid_operator_reconciles_total{kind="SafeSquidCluster",result="success"} 1');
    expect(text).toContain('safesquid_operator_queue_depth');
    expect(text).toContain('safesquid_operator_leader');
    expect((await get('/nope')).status).toBe(404);
  } finally {
    await h.close();
  }
});
