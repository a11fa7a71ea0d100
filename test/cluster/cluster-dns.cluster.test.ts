// The real node's cluster DNS (cluster-dns.ts), served on 127.0.0.1 against the cluster project's
// control plane and asked by Node's own resolver: the names pods look up, and the refusals.
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { startClusterDns, type ClusterDns } from './cluster-dns.js';
import { KubeHttp } from './kube-http.js';
import { createNamespace, getJson, kubectl, kubectlOk } from './kubectl.js';
import { freePort } from '../support/free-port.js';

jest.setTimeout(60_000);

let ns = '';
let dns: ClusterDns;
const resolver = new Resolver({ timeout: 2000, tries: 1 });

function adminClient(): KubeHttp {
  const kubeconfig = readFileSync(process.env.KUBECONFIG as string, 'utf8');
  const field = (name: string) => new RegExp(`^\\s*${name}: (\\S+)$`, 'm').exec(kubeconfig)?.[1] as string;
  return new KubeHttp(process.env.SAFESQUID_KUBE_SERVER as string, {
    caCert: field('certificate-authority'),
    adminCert: field('client-certificate'),
    adminKey: field('client-key'),
  });
}

beforeAll(async () => {
  ns = await createNamespace('dns');
  const port = await freePort();
  dns = await startClusterDns(adminClient(), '127.0.0.1', port);
  resolver.setServers([`127.0.0.1:${port}`]);
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'master' }, spec: { ports: [{ port: 8888 }] } },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'slaves' },
          spec: { clusterIP: 'None', ports: [{ port: 3128 }] },
        },
        // A headless Service's endpoints as the endpoints controller writes them for StatefulSet pods.
        {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'slaves' },
          subsets: [
            {
              addresses: [
                { ip: '10.244.1.7', hostname: 'slave-0' },
                { ip: '10.244.1.8', hostname: 'slave-1' },
              ],
              ports: [{ port: 3128 }],
            },
          ],
        },
      ],
    }),
  );
});

afterAll(async () => {
  await dns?.close();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'answered',
    (err: NodeJS.ErrnoException) => err.code,
  );

test('a Service name resolves to its ClusterIP', async () => {
  const svc = await getJson<{ spec: { clusterIP: string } }>(['service', '-n', ns, 'master']);
  expect(await resolver.resolve4(`master.${ns}.svc.cluster.local`)).toEqual([svc?.spec.clusterIP]);
  // Case does not matter; a trailing dot is the same name.
  expect(await resolver.resolve4(`Master.${ns.toUpperCase()}.svc.cluster.local.`)).toEqual([svc?.spec.clusterIP]);
});

test('a headless Service resolves to its endpoints, and each StatefulSet pod by its hostname', async () => {
  expect((await resolver.resolve4(`slaves.${ns}.svc.cluster.local`)).sort()).toEqual(['10.244.1.7', '10.244.1.8']);
  expect(await resolver.resolve4(`slave-1.slaves.${ns}.svc.cluster.local`)).toEqual(['10.244.1.8']);
  expect(await code(resolver.resolve4(`slave-2.slaves.${ns}.svc.cluster.local`))).toBe('ENOTFOUND');
});

test('pod names resolve to their dashed address', async () => {
  expect(await resolver.resolve4(`10-244-1-9.${ns}.pod.cluster.local`)).toEqual(['10.244.1.9']);
});

test('missing names are NXDOMAIN, other types of existing names have no data', async () => {
  // What a pod's search path tries first for `master.<ns>.svc`: must fail fast, not time out.
  expect(await code(resolver.resolve4(`master.${ns}.svc.${ns}.svc.cluster.local`))).toBe('ENOTFOUND');
  expect(await code(resolver.resolve4(`nothing.${ns}.svc.cluster.local`))).toBe('ENOTFOUND');
  expect(await code(resolver.resolve4('example.com'))).toBe('ENOTFOUND');
  expect(await code(resolver.resolve6(`master.${ns}.svc.cluster.local`))).toBe('ENODATA');
  expect(await code(resolver.resolve4(`${ns}.svc.cluster.local`))).toBe('ENODATA');
});
