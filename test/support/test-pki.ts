/**
 * Throw-away certificates for tests, made with the openssl CLI: a CA and leaf certificates it
 * signs (EC P-256 keys, valid for two days: a leaked test CA is useless soon after).
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const VALID_DAYS = '2';

export interface CertFiles {
  cert: string;
  key: string;
}

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

/** A CA (`<name>.crt`, `<name>.key` in `dir`). */
export async function createCa(dir: string, name = 'ca', commonName = 'safesquid-test-ca'): Promise<CertFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeKey(join(dir, `${name}.key`));
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${commonName}`,
      '-days',
      VALID_DAYS,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/**
 * A random 127-bit serial, as public CAs issue them. `-CAcreateserial` keeps a counter in a
 * file beside the CA instead, and certificates signed at the same time (the real node's kubelet
 * and kube-proxy certificates) read it half-written: "Unable to load number from ca.srl".
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return `0x${bytes.toString('hex')}`;
}

export const LEAF_EXTENSIONS = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
];

/** A certificate `<name>.crt` (key `<name>.key`) signed by `ca`, both in `dir`, with the extension lines given. */
export async function issueCert(
  dir: string,
  ca: CertFiles,
  name: string,
  subject: string,
  extensions: string[],
): Promise<CertFiles> {
  writeKey(join(dir, `${name}.key`));
  writeFileSync(join(dir, `${name}.ext`), extensions.join('\n') + '\n');
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      randomSerial(),
      '-days',
      VALID_DAYS,
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** A TLS server certificate for 127.0.0.1 and localhost. */
export function issueServerCert(dir: string, ca: CertFiles, name: string): Promise<CertFiles> {
  return issueCert(dir, ca, name, `/CN=${name}`, [
    ...LEAF_EXTENSIONS,
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
}
