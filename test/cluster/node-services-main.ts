// Cluster DNS and the hostPath provisioner of a detached real node (`make cluster-up REAL_NODE=1`),
// in a process of their own so they outlive the command that started them. Inside a test run they
// run in the launcher's process instead (real-node.ts).
//   node test/dist/cluster/node-services-main.js '{"server":...,"dnsAddress":...,"volumesDir":...,"nodeName":...}'
import { startClusterDns } from './cluster-dns.js';
import { startHostPathProvisioner } from './host-path-provisioner.js';
import { KubeHttp } from './kube-http.js';

interface Args {
  server: string;
  caCert: string;
  adminCert: string;
  adminKey: string;
  dnsAddress: string;
  volumesDir: string;
  nodeName: string;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as Args;
  const log = (l: string) => console.log(`${new Date().toISOString()} ${l}`);
  const api = new KubeHttp(args.server, args);
  const dns = await startClusterDns(api, args.dnsAddress, 53, { log });
  const provisioner = await startHostPathProvisioner(api, { dir: args.volumesDir, nodeName: args.nodeName, log });
  log(`cluster DNS on ${dns.address}:${dns.port}, StorageClass ${provisioner.storageClass}`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      void Promise.all([dns.close(), provisioner.close()]).then(() => process.exit(0));
    });
  }
}

main().catch((err: Error) => {
  console.error(`node services: ${err.message}`);
  process.exit(1);
});
