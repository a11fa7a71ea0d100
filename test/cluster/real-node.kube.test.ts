// The real node of the e2e-kube project (started by its globalSetup; the teardown checks the host is
// left as it was): pods from a locally built image run, and the pod network, Services, cluster DNS,
// the `kubernetes` Service, kubectl logs/exec and volumes work as on a real cluster.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from './kubectl.js';
import { REAL_NODE_LABEL } from './real-node.js';
import { realNodeFromEnv } from './real-node-env.js';

jest.setTimeout(120_000);

const node = realNodeFromEnv();
let ns = '';

beforeAll(async () => {
  ns = await createNamespace('real-node');
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const onRealNode = { nodeSelector: { [REAL_NODE_LABEL]: 'true' } };

interface Pod {
  spec: { nodeName?: string };
  status: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] };
}

async function readyPod(name: string): Promise<Pod> {
  return eventually(
    `pod ${ns}/${name} Ready`,
    async () => {
      const pod = await getJson<Pod>(['pod', '-n', ns, name]);
      return pod?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? pod : undefined;
    },
    60_000,
  );
}

async function finishedPod(name: string): Promise<string> {
  const phase = await eventually(
    `pod ${ns}/${name} to finish`,
    async () => {
      const p = (await getJson<Pod>(['pod', '-n', ns, name]))?.status.phase;
      return p === 'Succeeded' || p === 'Failed' ? p : undefined;
    },
    60_000,
  );
  const logs = await kubectlOk(['logs', '-n', ns, name]);
  if (phase !== 'Succeeded') throw new Error(`pod ${name} ${phase}; its log:\n${logs}`);
  return logs;
}

test('a pod from a locally built image runs on the real node; its IP and its Service answer the host', async () => {
  const t0 = Date.now();
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'web', labels: { app: 'web' } },
          spec: {
            ...onRealNode,
            containers: [
              {
                name: 'httpd',
                image: node.images.busybox,
                imagePullPolicy: 'Never',
                command: [
                  'sh',
                  '-c',
                  'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www',
                ],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/index.html', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web' },
          spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      ],
    }),
  );
  const pod = await readyPod('web');
  console.log(
    `real node: pod web Ready ${Date.now() - t0} ms after apply; node started in ${node.startupMs} ms; ` +
      `node processes RSS ${(node.memoryBytes() / 2 ** 20).toFixed(0)} MiB`,
  );
  expect(pod.spec.nodeName).toBe(node.nodeName);
  expect(pod.status.podIP).toMatch(/^10\.244\.1\.\d+$/);

  expect(await httpGet(`http://${pod.status.podIP}:8080/index.html`)).toEqual({ status: 200, body: 'served by web\n' });

  const svc = await getJson<{ spec: { clusterIP: string } }>(['service', '-n', ns, 'web']);
  // kube-proxy's rules follow the endpoints within its sync period.
  const viaService = await eventually(
    'the Service answering',
    async () => httpGet(`http://${svc?.spec.clusterIP}:80/index.html`).catch(() => undefined),
    30_000,
  );
  expect(viaService).toEqual({ status: 200, body: 'served by web\n' });

  // The API server reaches the kubelet: exec and logs.
  expect(await kubectlOk(['exec', '-n', ns, 'web', '--', 'cat', '/www/index.html'])).toBe('served by web\n');
});

test('a pod resolves a Service by its cluster DNS name, reaches it, and reaches the kubernetes Service', async () => {
  await readyPod('web');
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client' },
      spec: {
        ...onRealNode,
        restartPolicy: 'Never',
        containers: [
          {
            name: 'client',
            image: node.images.busybox,
            imagePullPolicy: 'Never',
            command: [
              'sh',
              '-c',
              [
                'set -e',
                'cat /etc/resolv.conf',
                // The short form the product's slaves use for the master (search path), and the full one.
                // (nc, not wget: Debian's static busybox wget crashes at start.)
                `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 web.${ns}.svc 80`,
                `nslookup web.${ns}.svc.cluster.local`,
                // The API server speaks TLS; a plain request gets its telling refusal, which proves the way there.
                "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 kubernetes.default.svc 443",
              ].join('\n'),
            ],
          },
        ],
      },
    }),
  );
  const logs = await finishedPod('client');
  expect(logs).toContain(`nameserver ${node.dnsServer}`);
  expect(logs).toContain(`search ${ns}.svc.cluster.local svc.cluster.local cluster.local`);
  expect(logs).toContain('served by web\n');
  const svc = await getJson<{ spec: { clusterIP: string } }>(['service', '-n', ns, 'web']);
  expect(logs).toMatch(
    new RegExp(
      `Name:\\s+web\\.${ns}\\.svc\\.cluster\\.local\\s+Address:\\s+${svc?.spec.clusterIP.replaceAll('.', '\\.')}`,
    ),
  );
  expect(logs).toContain('Client sent an HTTP request to an HTTPS server');
});

test('a claim of the default StorageClass binds and the pod writes to its volume on the node', async () => {
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Mi' } } },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'writer' },
          spec: {
            restartPolicy: 'Never',
            // No nodeSelector: the volume's node affinity takes the pod to the real node.
            securityContext: { runAsUser: 65532, runAsGroup: 65532 },
            containers: [
              {
                name: 'writer',
                image: node.images.busybox,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', 'echo written-by-$(id -u) > /data/proof && cat /data/proof'],
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
            volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
          },
        },
      ],
    }),
  );
  expect(await finishedPod('writer')).toBe('written-by-65532\n');
  const pvc = await getJson<{ spec: { storageClassName: string; volumeName: string }; status: { phase: string } }>([
    'pvc',
    '-n',
    ns,
    'data',
  ]);
  expect(pvc?.status.phase).toBe('Bound');
  expect(pvc?.spec.storageClassName).toBe(node.storageClass);
  const pv = await getJson<{ spec: { hostPath: { path: string } } }>(['pv', pvc?.spec.volumeName as string]);
  expect(readFileSync(`${pv?.spec.hostPath.path}/proof`, 'utf8')).toBe('written-by-65532\n');
});

test("metrics-server reports the pods' real CPU, and an HPA scales a Deployment on it", async () => {
  // A busy loop held to 100m by its CPU limit: five times its 20m request.
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'burner' },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'burner' } },
            template: {
              metadata: { labels: { app: 'burner' } },
              spec: {
                ...onRealNode,
                terminationGracePeriodSeconds: 0,
                containers: [
                  {
                    name: 'burn',
                    image: node.images.busybox,
                    imagePullPolicy: 'Never',
                    command: ['sh', '-c', 'while :; do :; done'],
                    resources: { requests: { cpu: '20m' }, limits: { cpu: '100m' } },
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: 'burner' },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'burner' },
            minReplicas: 1,
            maxReplicas: 2,
            metrics: [
              { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 100 } } },
            ],
          },
        },
      ],
    }),
  );
  try {
    const cpu = await eventually(
      'pod CPU from metrics.k8s.io',
      async () => {
        const list = await getJson<{
          items: { metadata: { labels?: Record<string, string> }; containers: { usage: { cpu: string } }[] }[];
        }>(['pods.metrics.k8s.io', '-n', ns, '-l', 'app=burner']);
        const usage = list?.items[0]?.containers[0]?.usage.cpu;
        if (!usage) return undefined;
        const milli = usage.endsWith('n')
          ? Number(usage.slice(0, -1)) / 1e6
          : usage.endsWith('m')
            ? Number(usage.slice(0, -1))
            : Number(usage) * 1000;
        return milli > 40 ? milli : undefined;
      },
      90_000,
    );
    console.log(`real node: busy pod at ${cpu.toFixed(0)}m CPU per metrics-server`);
    const replicas = await eventually(
      'the HPA to scale burner to 2',
      async () => {
        const d = await getJson<{ spec: { replicas: number } }>(['deployment', '-n', ns, 'burner']);
        return d?.spec.replicas === 2 ? 2 : undefined;
      },
      60_000,
    );
    expect(replicas).toBe(2);
  } finally {
    await kubectl(['delete', '-n', ns, 'hpa/burner', 'deployment/burner', '--wait=false']);
  }
});
