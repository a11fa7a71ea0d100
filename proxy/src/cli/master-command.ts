import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { createEngineCompiler } from '../portal/policy-compiler.js';
import { startMaster } from '../portal/master.js';
import { SecretFile } from './secret-file.js';
import { openMasterReports } from '../portal/master-reports.js';
import { loadCertificatePair } from '../portal/serving-certificate.js';
import { parseHostPort } from './host-port.js';
import { checkedCidrs, commaList } from './cidr-flag.js';
import { withEnvFlags } from './env-flags.js';
import { checkLogLevel, makeLogger } from './logger.js';
import { UsageError } from '../errors.js';

export const USAGE = `usage: safesquid master [options]
       safesquid master backup --to FILE [options]      (safesquid master backup --help)
       safesquid master restore --from FILE [options]   (safesquid master restore --help)

  --listen HOST:PORT         where the portal listens (default 127.0.0.1:8888; :8888 for every interface)
  --data-dir DIR             policy store, report database, generated secrets (default ./safesquid-data)
  --policy FILE              Kubernetes mode: the operator's policy (mounted ConfigMap), read-only in the portal
  --kube-configmap NS/NAME   Kubernetes mode, in-cluster: also watch that ConfigMap through the API
  --token-file FILE          the cluster token slaves present (default: generated into the data dir)
  --admin-token-file FILE    a bearer token with administrator rights (for automation)
  --admin-user NAME          the web UI administrator (default admin)
  --admin-password-file FILE its password or bcrypt hash (default: generated into the data dir)
  --allow CIDR               client addresses allowed to call the portal; repeat or comma-separate
                             (default 127.0.0.0/8 and ::1)
  --trust-proxy CIDR         reverse proxies (an Ingress controller) whose X-Forwarded-For names the
                             client the allow list, logs and login limits then see; repeat or comma-separate
  --tls-cert FILE            serve the portal over HTTPS with this certificate (PEM, chain included)
  --tls-key FILE             and its key; both files are re-read when they change (a renewed Secret)
  --postgres-url URL         store reports in PostgreSQL (or SAFESQUID_POSTGRES_URL) instead of SQLite
  --retention-days N         delete access records older than N days (default 90)
  --log-level LEVEL          pino level (default info)
`;

function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(err as Error).message}`);
  }
  if (!text) throw new UsageError(`the ${what} file ${file} is empty`);
  return text;
}

/** Reads a secret from the data dir, generating it on first start (mode 0600). */
function generatedSecret(dataDir: string, name: string, log: Logger): { value: string; file: string } {
  const file = join(dataDir, name);
  if (existsSync(file)) return { value: readSecretFile(file, name), file };
  const value = randomBytes(24).toString('base64url');
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  log.info({ file }, `generated ${name}`);
  return { value, file };
}

const MASTER_OPTIONS = {
  listen: { type: 'string', default: '127.0.0.1:8888' },
  'data-dir': { type: 'string', default: './safesquid-data' },
  policy: { type: 'string' },
  'kube-configmap': { type: 'string' },
  'token-file': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'admin-user': { type: 'string', default: 'admin' },
  'admin-password-file': { type: 'string' },
  allow: { type: 'string', multiple: true },
  'trust-proxy': { type: 'string', multiple: true },
  'postgres-url': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'retention-days': { type: 'string', default: '90' },
  'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'backup' || argv[0] === 'restore') {
    const { runBackup, runRestore } = await import('./backup-command.js');
    return argv[0] === 'backup' ? runBackup(argv.slice(1)) : runRestore(argv.slice(1));
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: withEnvFlags(argv, MASTER_OPTIONS, process.env, ['postgres-url']),
      strict: true,
      allowPositionals: false,
      options: MASTER_OPTIONS,
    }));
  } catch (err) {
    process.stderr.write(`safesquid master: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let log: Logger;
  try {
    log = makeLogger({ role: 'master', name: hostname(), level: checkLogLevel(values['log-level']) });
  } catch (err) {
    process.stderr.write(`safesquid master: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  let master;
  try {
    const listen = parseHostPort(values.listen, 'listen');
    const allowList = checkedCidrs(commaList(values.allow ?? ['127.0.0.0/8', '::1']), 'allow');
    const trustProxy = checkedCidrs(commaList(values['trust-proxy'] ?? []), 'trust-proxy');
    const retentionDays = Number(values['retention-days']);
    if (!Number.isInteger(retentionDays) || retentionDays < 1) {
      throw new UsageError(`--retention-days must be a whole number of days ≥ 1, got "${values['retention-days']}"`);
    }
    let kubeConfigMap: { namespace: string; name: string } | undefined;
    if (values['kube-configmap'] !== undefined) {
      const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)$/.exec(values['kube-configmap']);
      if (!m) throw new UsageError(`--kube-configmap must be NAMESPACE/NAME, got "${values['kube-configmap']}"`);
      kubeConfigMap = { namespace: m[1], name: m[2] };
    }
    if (values.policy !== undefined && !existsSync(values.policy))
      throw new UsageError(`--policy: no such file ${values.policy}`);
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
      throw new UsageError('--tls-cert and --tls-key go together: give both for HTTPS, or neither for HTTP');
    }
    const tls =
      values['tls-cert'] && values['tls-key']
        ? { certFile: values['tls-cert'], keyFile: values['tls-key'] }
        : undefined;
    if (tls) {
      try {
        loadCertificatePair(tls);
      } catch (err) {
        throw new UsageError(`--tls-cert/--tls-key: ${(err as Error).message}`);
      }
    }

    const dataDir = resolve(values['data-dir']);
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (err) {
      throw new UsageError(`--data-dir: cannot create ${dataDir}: ${(err as Error).message}`);
    }
    // Token files are re-read when they change (a rotated Secret), the admin password at start only.
    const rotated = (what: string, path: string) =>
      log.info({ file: path }, `${what} file changed: now accepting the new ${what}`);
    const tokenFile = (path: string, what: string) => {
      try {
        const secret = new SecretFile(path, what, rotated);
        return () => secret.value;
      } catch (err) {
        throw new UsageError(`cannot read the ${what} file ${path}: ${(err as Error).message}`);
      }
    };
    const clusterToken = values['token-file']
      ? tokenFile(values['token-file'], 'cluster token')
      : generatedSecret(dataDir, 'cluster-token', log).value;
    const adminToken = values['admin-token-file'] ? tokenFile(values['admin-token-file'], 'admin token') : undefined;
    const adminPassword = values['admin-password-file']
      ? readSecretFile(values['admin-password-file'], 'admin password')
      : generatedSecret(dataDir, 'admin-password', log).value;

    const defaultFile = fileURLToPath(new URL('../../policies/default.yaml', import.meta.url));
    const postgresUrl = values['postgres-url'] ?? process.env.SAFESQUID_POSTGRES_URL;
    const registry = new Registry();
    const reports = await openMasterReports({ dataDir, postgresUrl, retentionDays, logger: log, registry });
    master = await startMaster({
      ...listen,
      dataDir,
      policyFile: values.policy,
      kubeConfigMap,
      clusterToken,
      adminToken,
      admin: { username: values['admin-user'], password: adminPassword },
      allow: allowList,
      trustProxy,
      compiler: createEngineCompiler(),
      defaultPolicy: { text: readFileSync(defaultFile, 'utf8'), origin: defaultFile },
      reports,
      tls,
      logger: log,
      registry,
    }).catch(async (err: unknown) => {
      await reports.close();
      throw err;
    });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`safesquid master: ${err.message}\n`);
      return 2;
    }
    log.fatal({ err: (err as Error).message }, 'master failed to start');
    process.stderr.write(`safesquid master: ${(err as Error).message}\n`);
    return 1;
  }

  const running = master;
  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      running.close().then(resolveStop, (err: unknown) => {
        log.error({ err }, 'error while stopping');
        resolveStop();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
