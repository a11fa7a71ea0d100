import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

// Short-lived on purpose: a leaked test CA is useless a day later.
const VALID_DAYS = '2';

function writeKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

async function openssl(args: string[], dir: string): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} in ${dir} failed: ${e.stderr || e.message}`);
  }
}

async function issue(dir: string, name: string, subject: string, extensions: string[]): Promise<void> {
  writeKey(join(dir, `${name}.key`));
  writeFileSync(join(dir, `${name}.ext`), extensions.join('\n') + '\n');
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', VALID_DAYS, '-extfile', `${name}.ext`, '-out', `${name}.crt`],
    dir,
  );
}

/**
 * A CA, the API server's serving certificate (valid for 127.0.0.1 and the in-cluster service names),
 * a system:masters client certificate for the admin kubeconfig, and the service-account signing key.
 */
export async function createPki(dir: string, serviceIp: string): Promise<ControlPlanePki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeKey(join(dir, 'ca.key'));
  await openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=safesquid-test-ca', '-days', VALID_DAYS,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', 'ca.crt'],
    dir,
  );
  const leaf = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'];
  await issue(dir, 'apiserver', '/CN=kube-apiserver', [
    ...leaf,
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:' + serviceIp + ',DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
      'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  ]);
  await issue(dir, 'admin', '/O=system:masters/CN=safesquid-test-admin', [...leaf, 'extendedKeyUsage=clientAuth']);

  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));

  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'apiserver.crt'),
    serverKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub'),
  };
}
