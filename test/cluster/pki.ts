import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCert, LEAF_EXTENSIONS } from '../support/test-pki.js';

/** Files of the throw-away PKI of one test control plane. */
export interface ControlPlanePki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/**
 * A CA, the API server's serving certificate (valid for 127.0.0.1, `extraIps` such as a real node's
 * address the API server binds to, and the in-cluster service names),
 * a system:masters client certificate for the admin kubeconfig, and the service-account signing key.
 */
export async function createPki(dir: string, serviceIp: string, extraIps: string[] = []): Promise<ControlPlanePki> {
  const ca = await createCa(dir);
  const server = await issueCert(dir, ca, 'apiserver', '/CN=kube-apiserver', [
    ...LEAF_EXTENSIONS,
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:' +
      [serviceIp, ...extraIps].join(',IP:') +
      ',DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
      'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  ]);
  const admin = await issueCert(dir, ca, 'admin', '/O=system:masters/CN=safesquid-test-admin', [
    ...LEAF_EXTENSIONS,
    'extendedKeyUsage=clientAuth',
  ]);

  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));

  return {
    caCert: ca.cert,
    caKey: ca.key,
    serverCert: server.cert,
    serverKey: server.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub'),
  };
}
