// Proves the test control plane is a real Kubernetes: each behaviour below exists only in the real
// API server and controllers (schema + CEL validation, server-side apply ownership, scheduling onto
// nodes, garbage collection, HPA through the scale subresource).
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from './kubectl.js';

jest.setTimeout(90_000);

let ns: string;

beforeAll(async () => {
  ns = await createNamespace('smoke');
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.safesquid.test
spec:
  group: smoke.safesquid.test
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
  - name: v1
    served: true
    storage: true
    subresources: { status: {} }
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [replicas]
            x-kubernetes-validations:
            - rule: "self.replicas <= self.maxReplicas"
              message: "replicas must not exceed maxReplicas"
            properties:
              replicas: { type: integer, minimum: 1 }
              maxReplicas: { type: integer, default: 10 }
              mode: { type: string, enum: [forward, transparent] }
`;

function widget(name: string, spec: string): string {
  return `apiVersion: smoke.safesquid.test/v1\nkind: Widget\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n`;
}

test('a CRD schema and its CEL rule reject bad objects and keep good ones', async () => {
  await kubectlOk(['apply', '-f', '-'], crd);
  await kubectlOk(['wait', '--for=condition=Established', 'crd/widgets.smoke.safesquid.test', '--timeout=30s']);

  await kubectlOk(['apply', '-f', '-'], widget('good', '{ replicas: 2, mode: forward }'));
  const good = await getJson(['-n', ns, 'widget', 'good']);
  expect(good.spec).toEqual({ replicas: 2, maxReplicas: 10, mode: 'forward' }); // default applied by the server

  const badType = await kubectl(['apply', '-f', '-'], widget('bad-type', '{ replicas: 0, mode: reverse }'));
  expect(badType.code).not.toBe(0);
  expect(badType.stderr).toMatch(/spec\.replicas.*should be greater than or equal to 1/);
  expect(badType.stderr).toMatch(/spec\.mode.*Unsupported value: "reverse"/);

  const badRule = await kubectl(['apply', '-f', '-'], widget('bad-rule', '{ replicas: 5, maxReplicas: 3 }'));
  expect(badRule.code).not.toBe(0);
  expect(badRule.stderr).toContain('replicas must not exceed maxReplicas');

  expect(await getJson(['-n', ns, 'widget', 'bad-type'])).toBeNull();
  expect(await getJson(['-n', ns, 'widget', 'bad-rule'])).toBeNull();
});

test('server-side apply reports a conflict between two field managers', async () => {
  const cm = (value: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared, namespace: ${ns} }\ndata: { mode: ${value} }\n`;
  await kubectlOk(['apply', '--server-side', '--field-manager=alice', '-f', '-'], cm('forward'));

  const conflict = await kubectl(['apply', '--server-side', '--field-manager=bob', '-f', '-'], cm('transparent'));
  expect(conflict.code).not.toBe(0);
  expect(conflict.stderr).toMatch(/conflict with "alice"/);
  expect(conflict.stderr).toContain('.data.mode');
  expect((await getJson(['-n', ns, 'configmap', 'shared'])).data.mode).toBe('forward');

  await kubectlOk(['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', '-'], cm('transparent'));
  const after = await getJson(['-n', ns, 'configmap', 'shared', '--show-managed-fields']);
  expect(after.data.mode).toBe('transparent');
  const bob = after.metadata.managedFields.find((m: any) => m.manager === 'bob');
  expect(bob.fieldsV1['f:data']).toHaveProperty(['f:mode']);
  expect(after.metadata.managedFields.find((m: any) => m.manager === 'alice')).toBeUndefined();
});

const podsReady = (selector: string, count: number) => async () => {
  const pods = await getJson(['-n', ns, 'pods', '-l', selector]);
  const ready = pods.items.filter(
    (p: any) =>
      p.status.phase === 'Running' && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
  );
  return ready.length === count ? ready : undefined;
};

test("a Deployment's pods are scheduled onto kwok nodes and become Running and Ready", async () => {
  await kubectlOk(['-n', ns, 'create', 'deployment', 'web', '--image=registry.invalid/web:1', '--replicas=2']);
  const pods = await eventually('2 Running/Ready pods of deployment web', podsReady('app=web', 2));
  for (const pod of pods) {
    expect(pod.spec.nodeName).toMatch(/^kwok-node-\d$/);
    expect(pod.status.podIP).toMatch(/^10\.244\.0\.\d+$/);
  }
  const deploy = await eventually('deployment web to report 2 ready replicas', async () => {
    const d = await getJson(['-n', ns, 'deployment', 'web']);
    return d.status.readyReplicas === 2 ? d : undefined;
  });
  expect(deploy.status.availableReplicas).toBe(2);

  // The endpointslice controller publishes the Ready pods behind a Service.
  await kubectlOk(['-n', ns, 'expose', 'deployment', 'web', '--port=80']);
  const addresses = await eventually('an EndpointSlice of service web with 2 ready endpoints', async () => {
    const slices = await getJson(['-n', ns, 'endpointslices', '-l', 'kubernetes.io/service-name=web']);
    const ready = slices.items.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions.ready);
    return ready.length === 2 ? ready.flatMap((e: any) => e.addresses) : undefined;
  });
  expect(addresses.sort()).toEqual(pods.map((p: any) => p.status.podIP).sort());
});

test('deleting an owner garbage-collects its dependents', async () => {
  await kubectlOk(['-n', ns, 'create', 'configmap', 'owner']);
  const owner = await getJson(['-n', ns, 'configmap', 'owner']);
  const dependent = (name: string) => `
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${ns}
  ownerReferences:
  - { apiVersion: v1, kind: ConfigMap, name: owner, uid: ${owner.metadata.uid} }
`;
  await kubectlOk(['apply', '-f', '-'], dependent('child-a') + '---' + dependent('child-b'));
  await kubectlOk(['-n', ns, 'delete', 'configmap', 'owner', '--cascade=background']);
  await eventually('child-a and child-b to be garbage-collected', async () =>
    (await getJson(['-n', ns, 'configmap', 'child-a'])) === null &&
    (await getJson(['-n', ns, 'configmap', 'child-b'])) === null
      ? true
      : undefined,
  );
});

test('an HPA targeting a StatefulSet reads and writes its scale subresource', async () => {
  await kubectlOk(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: cache, namespace: ${ns} }
spec:
  replicas: 1
  serviceName: cache
  selector: { matchLabels: { app: cache } }
  template:
    metadata: { labels: { app: cache } }
    spec:
      containers:
      - { name: cache, image: registry.invalid/cache:1, resources: { requests: { cpu: 100m } } }
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: cache, namespace: ${ns} }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: StatefulSet, name: cache }
  minReplicas: 2
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: { name: cpu, target: { type: Utilization, averageUtilization: 60 } }
`,
  );
  // Below minReplicas, the HPA controller raises replicas through /scale without needing metrics.
  const hpa = await eventually('the HPA to read the StatefulSet scale and raise it to minReplicas', async () => {
    const h = await getJson(['-n', ns, 'hpa', 'cache']);
    const ableToScale = h.status?.conditions?.find((c: any) => c.type === 'AbleToScale');
    return h.status?.desiredReplicas === 2 && ableToScale?.status === 'True' ? h : undefined;
  });
  expect(hpa.status.conditions.find((c: any) => c.type === 'AbleToScale').reason).toMatch(
    /SucceededGetScale|SucceededRescale/,
  );

  const scale = JSON.parse(
    await kubectlOk(['get', '--raw', `/apis/apps/v1/namespaces/${ns}/statefulsets/cache/scale`]),
  );
  expect(scale.kind).toBe('Scale');
  expect(scale.spec.replicas).toBe(2);
  expect(scale.status.selector).toBe('app=cache');
  await eventually('2 Running/Ready pods of statefulset cache', podsReady('app=cache', 2));
  const sts = await getJson(['-n', ns, 'statefulset', 'cache']);
  expect(sts.spec.replicas).toBe(2);
});
