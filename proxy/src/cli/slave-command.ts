/**
 * `safesquid slave`: the forward proxy. Flags are checked up front (exit 2 with a message naming
 * the flag); SIGTERM/SIGINT drain in-flight requests within `--shutdown-grace`.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import {
  AUTH_FLAG_OPTIONS,
  AUTH_FLAGS_USAGE,
  createAuthenticator,
  parseAuthFlags,
  type AuthOptions,
} from '../slave/auth/index.js';
import type { AccessLogFormat } from '../slave/access-log.js';
import { startSlave, type Slave, type SlaveOptions } from '../slave/slave.js';
import { isClusterWorker, primaryEndpoints, reportToPrimary, runPrimary } from '../slave/worker-cluster.js';
import { PROXY_DEFAULTS } from '../slave/proxy-server.js';
import { startReportShipper } from '../reports/shipper.js';
import { LogForwarder } from '../reports/shipper-logs.js';
import { StatsReporter } from '../reports/shipper-stats.js';
import { packageVersion } from '../sync/package-version.js';
import { RecentErrors } from '../slave/recent-errors.js';
import { SlaveTaskRunner, withoutSecrets } from '../slave/slave-tasks.js';
import { PolicySyncClient } from '../sync/policy-client.js';
import { parseHostPort } from './host-port.js';
import { SecretFile } from './secret-file.js';
import { checkedCidrs } from './cidr-flag.js';
import { withEnvFlags } from './env-flags.js';
import { checkLogLevel, makeLogger, VERSION } from './logger.js';
import { UsageError } from '../errors.js';

export const USAGE = `usage: safesquid slave --policy FILE --listen HOST:PORT [options]

  --policy FILE            PolicySet documents (YAML/JSON) or a compiled PolicyBundle; watched and reloaded
                           (with --master: the fallback while the master is away)
  --listen HOST:PORT       proxy address (repeatable; ":3128" = all interfaces; default :3128)
  --metrics-listen H:P     /metrics, /healthz, /readyz (default 127.0.0.1:9090; "off" to disable)
  --name NAME              slave name in Via, block pages and reports (default: host name)
  --state-dir DIR          keeps the last good policy bundle (and the report spool) across restarts
  --master URL             the master's portal; policy comes from it, reports go to it
  --token-file FILE        cluster token for --master
  --master-ca FILE         PEM CA certificates to trust for an https:// --master (default: the system's)
  --workers N              worker processes (default 1: no cluster)
  --access-log FORMAT      squid | json | off (default off): one line per request on stdout
  --max-connections N      open client connections before new ones get 503 (default ${PROXY_DEFAULTS.maxConnections})
  --max-tunnels N          open CONNECT tunnels before new ones get 503 (default ${PROXY_DEFAULTS.maxTunnels})
  --header-timeout MS      time to send request headers (default ${PROXY_DEFAULTS.headerTimeoutMs})
  --idle-timeout MS        idle client connections and tunnels are closed after this (default ${PROXY_DEFAULTS.idleTimeoutMs})
  --drain-delay MS         on SIGTERM, first answer /readyz with 503 and keep serving this long, so load
                           balancers stop sending new connections before the listeners close (default 0)
  --shutdown-grace MS      then the time in-flight requests get to finish (default 25000)
  --log-level LEVEL        fatal, error, warn, info, debug, trace or silent (default info, or $LOG_LEVEL)
  --proxy-protocol-from CIDR
                           a load balancer in TCP mode (HAProxy send-proxy[-v2], AWS NLB) that starts each
                           connection with a PROXY protocol header naming the client (repeatable); policy,
                           allowedClients and reports then see the client, not the balancer. Connections
                           from these addresses must carry the header; others are served as without it

${AUTH_FLAGS_USAGE}`;

export interface SlaveCommandOptions extends Omit<SlaveOptions, 'logger' | 'authenticator'> {
  master?: string;
  tokenFile?: string;
  /** PEM text of --master-ca. */
  masterCa?: string;
  workers: number;
  shutdownGraceMs: number;
  drainDelayMs: number;
  logLevel: string;
  auth?: AuthOptions;
}

/** A PEM bundle TLS can use as trust anchors; the error says what is wrong with the file. */
function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--master-ca: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`--master-ca: ${file} holds no PEM certificate`);
  try {
    createSecureContext({ ca: pem });
  } catch (err) {
    throw new UsageError(`--master-ca: ${file} is not usable as CA certificates: ${(err as Error).message}`);
  }
  return pem;
}

function nonNegativeInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value))
    throw new UsageError(`--${flag} "${value}": expected a whole number of milliseconds (0 or more)`);
  return Number(value);
}

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new UsageError(`--${flag} "${value}": expected a positive integer`);
  return Number(value);
}

const SLAVE_OPTIONS = {
  policy: { type: 'string' },
  listen: { type: 'string', multiple: true },
  'metrics-listen': { type: 'string' },
  name: { type: 'string' },
  'state-dir': { type: 'string' },
  master: { type: 'string' },
  'token-file': { type: 'string' },
  'master-ca': { type: 'string' },
  workers: { type: 'string' },
  'access-log': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-tunnels': { type: 'string' },
  'header-timeout': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'shutdown-grace': { type: 'string' },
  'drain-delay': { type: 'string' },
  'proxy-protocol-from': { type: 'string', multiple: true },
  'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

function parseFlags(rest: string[], env: NodeJS.ProcessEnv): Record<string, string | string[] | boolean | undefined> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: withEnvFlags(rest, SLAVE_OPTIONS, env),
      strict: true,
      allowPositionals: false,
      options: SLAVE_OPTIONS,
    }));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
  return values;
}

export function parseSlaveArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): SlaveCommandOptions {
  let auth: AuthOptions | undefined;
  let rest: string[];
  try {
    // The --auth-* flags take SAFESQUID_AUTH_* variables like the others; the one secret among them
    // is a file (--auth-ldap-service-password-file), so no password comes from the environment.
    ({ auth, rest } = parseAuthFlags(withEnvFlags(argv, AUTH_FLAG_OPTIONS, env)));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
  const values = parseFlags(rest, env);
  if (values.help) throw new UsageError('');
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const policyFile = str('policy');
  const master = str('master');
  if (!policyFile && !master)
    throw new UsageError('--policy FILE is required (or --master URL to get policy from the master)');
  if (master) {
    try {
      new URL(master);
    } catch {
      throw new UsageError(`--master "${master}": expected a URL such as http://127.0.0.1:8888`);
    }
    if (!str('token-file')) throw new UsageError('--master needs --token-file FILE (the cluster token)');
  }
  const masterCaFile = str('master-ca');
  let masterCa: string | undefined;
  if (masterCaFile !== undefined) {
    if (!master?.startsWith('https://')) throw new UsageError('--master-ca is for an https:// --master');
    masterCa = readCaFile(masterCaFile);
  }
  const accessLog = (str('access-log') ?? 'off') as AccessLogFormat;
  if (!['squid', 'json', 'off'].includes(accessLog))
    throw new UsageError(`--access-log "${accessLog}": expected squid, json or off`);
  const listen = ((values.listen as string[] | undefined) ?? [':3128']).map((l) => parseHostPort(l, 'listen'));
  const metricsText = str('metrics-listen') ?? '127.0.0.1:9090';
  const proxyProtocolFrom = checkedCidrs(
    (values['proxy-protocol-from'] as string[] | undefined) ?? [],
    'proxy-protocol-from',
  );
  const name = str('name') ?? hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(name))
    throw new UsageError(`--name "${name}": use letters, digits, ".", "_" and "-"`);
  return {
    name,
    listen,
    metricsListen: metricsText === 'off' ? undefined : parseHostPort(metricsText, 'metrics-listen'),
    policyFile,
    stateDir: str('state-dir'),
    master,
    tokenFile: str('token-file'),
    masterCa,
    workers: positiveInt(str('workers'), 'workers', 1),
    accessLog,
    maxConnections: positiveInt(str('max-connections'), 'max-connections', PROXY_DEFAULTS.maxConnections),
    maxTunnels: positiveInt(str('max-tunnels'), 'max-tunnels', PROXY_DEFAULTS.maxTunnels),
    headerTimeoutMs: positiveInt(str('header-timeout'), 'header-timeout', PROXY_DEFAULTS.headerTimeoutMs),
    idleTimeoutMs: positiveInt(str('idle-timeout'), 'idle-timeout', PROXY_DEFAULTS.idleTimeoutMs),
    shutdownGraceMs: positiveInt(str('shutdown-grace'), 'shutdown-grace', 25_000),
    drainDelayMs: nonNegativeInt(str('drain-delay'), 'drain-delay', 0),
    proxyProtocolFrom,
    logLevel: checkLogLevel(str('log-level') ?? 'info'),
    auth,
  };
}

/** Logs go to stderr: stdout carries the access log. */

/**
 * Exit status after a `restart` task: not 0, so a supervisor that restarts only failed services
 * (systemd `Restart=on-failure`) restarts the slave too. 75 is EX_TEMPFAIL.
 */
export const RESTART_EXIT_CODE = 75;
let restartRequested = false;

/** Drains like SIGTERM, then exits with RESTART_EXIT_CODE. */
function requestRestart(): void {
  restartRequested = true;
  process.kill(process.pid, 'SIGTERM');
}

export async function runSlave(opts: SlaveCommandOptions, logger: Logger): Promise<() => Promise<void>> {
  if (opts.workers > 1 && !isClusterWorker()) return runPrimary({ ...opts, logger });
  if (isClusterWorker()) {
    // Limits are for the whole slave: each worker takes its share.
    const share = (n: number | undefined): number | undefined =>
      n === undefined ? undefined : Math.max(1, Math.ceil(n / opts.workers));
    const id = cluster.worker!.id;
    opts = {
      ...opts,
      // The primary answers /readyz and has waited out the drain delay before it stops the workers.
      drainDelayMs: 0,
      metricsListen: undefined,
      maxConnections: share(opts.maxConnections),
      maxTunnels: share(opts.maxTunnels),
    };
    const stop = await startSlaveProcess(
      { ...opts, role: 'worker', extraOwnEndpoints: primaryEndpoints },
      logger,
      `worker-${id}`,
    );
    return async () => {
      await stop();
      process.disconnect?.();
    };
  }
  return startSlaveProcess(opts, logger, undefined);
}

async function startSlaveProcess(
  opts: SlaveCommandOptions & Pick<SlaveOptions, 'role' | 'extraOwnEndpoints'>,
  logger: Logger,
  spoolSubdir: string | undefined,
): Promise<() => Promise<void>> {
  const authenticator = opts.auth ? createAuthenticator(opts.auth, { logger }) : undefined;
  const announce = (slave: Slave): void => {
    if (opts.role === 'worker')
      reportToPrimary(slave.registry, slave.proxyAddresses, slave.active, () => slave.status.status());
  };
  if (!opts.master) {
    // Without a master nobody would drain a record queue: no records are kept (the access log
    // and the metrics still see every request).
    const slave = await startSlave({ ...opts, logger, authenticator, queueCapacity: 0 });
    announce(slave);
    return () => slave.stop(opts.shutdownGraceMs, opts.drainDelayMs);
  }
  // With a master, it is the policy authority; the file (a mounted bundle) is the sync client's
  // fallback and only seeds a slave that has nothing persisted.
  // Re-read when the file changes (a rotated Secret), like the master's token files.
  const tokenFile = new SecretFile(opts.tokenFile!, 'cluster token', (what, path) =>
    logger.info({ file: path }, `${what} file changed: now sending the new ${what}`),
  );
  const token = () => tokenFile.value;
  const slave = await startSlave({ ...opts, policyFileMode: 'initial', logger, authenticator });
  announce(slave);
  const spoolRoot = opts.stateDir ? join(opts.stateDir, 'spool') : join(tmpdir(), `safesquid-${opts.name}-spool`);
  const spoolDir = spoolSubdir ? join(spoolRoot, spoolSubdir) : spoolRoot;
  if (!opts.stateDir)
    logger.warn({ spoolDir }, 'no --state-dir: undelivered reports are spooled in a temporary directory');
  const common = {
    masterUrl: opts.master,
    token,
    slaveName: opts.name,
    logger,
    registry: slave.registry,
    ca: opts.masterCa,
  };
  // Tasks from the master (re-sync, reload users, restart, diagnostics) ride the policy long-poll.
  const recentErrors = new RecentErrors().tap(logger);
  const sync = new PolicySyncClient({
    ...common,
    activePolicy: slave.active,
    fallbackBundleFile: opts.policyFile,
    onTasks: (open) => tasks.check(open),
  });
  const tasks = new SlaveTaskRunner({
    name: opts.name,
    channel: sync,
    logger,
    registry: slave.registry,
    policy: slave.active,
    reloadUsers: authenticator?.reload ? () => authenticator.reload!() : undefined,
    restart: requestRestart,
    flags: withoutSecrets({ ...opts, masterCa: opts.masterCa ? '(PEM given)' : undefined }) as Record<string, unknown>,
    version: VERSION,
    recentErrors: () => recentErrors.list(),
    stateDir: opts.stateDir,
  });
  // With a master the slave keeps its default queue (queueCapacity is only 0 without one).
  const shipper = startReportShipper({ ...common, queue: slave.queue!, spoolDir });
  // Live statistics and warning/error lines for the master's per-slave view, on the shipper's connection.
  const logs = new LogForwarder().tap(logger);
  const stats = new StatsReporter({
    client: shipper.client,
    registry: slave.registry,
    logs,
    logger,
    version: packageVersion(),
    process: spoolSubdir ?? 'main',
  });
  slave.status.attach({ url: opts.master, sync, shipper, logs });
  return async () => {
    sync.stop();
    await slave.stop(opts.shutdownGraceMs, opts.drainDelayMs);
    await stats.stop();
    await shipper.stop();
  };
}

export async function run(argv: string[]): Promise<number> {
  let opts: SlaveCommandOptions;
  try {
    opts = parseSlaveArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // --help (an empty UsageError) is an answer: stdout, exit 0; a mistake goes to stderr with exit 2.
    if (!err.message) {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stderr.write(`safesquid slave: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  const logger = makeLogger({ role: isClusterWorker() ? 'worker' : 'slave', name: opts.name, level: opts.logLevel });
  let stop: () => Promise<void>;
  try {
    stop = await runSlave(opts, logger);
  } catch (err) {
    process.stderr.write(`safesquid slave: ${(err as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, drainDelayMs: opts.drainDelayMs, graceMs: opts.shutdownGraceMs }, 'shutting down');
      stop().then(
        () => resolve(restartRequested ? RESTART_EXIT_CODE : 0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
