import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutput, freePort, type ProcessGroup } from './processes.js';
import type { RunningProxy } from './squid.js';
import { LOG } from '@safesquid/proxy/log-messages';
import { BACKGROUND_THREADS_PRELOAD, SERVER_NODE_FLAGS, serverNodeArgs } from '@safesquid/proxy/node-flags';
import type { ChildProcess } from 'node:child_process';

export const POLICY_RULES = 1000;

/** 1 000 deny rules on other domains, then an allow for the bench upstream; loopback opened for the SSRF guard. */
export function benchPolicyYaml(connectPorts: number[]): string {
  const lines = [
    'apiVersion: safesquid.io/v1alpha1',
    'kind: PolicySet',
    'metadata: {name: bench}',
    'spec:',
    '  priority: 100',
    '  rules:',
  ];
  for (let i = 0; i < POLICY_RULES; i++) {
    const match = i % 10 === 0 ? `{domains: ["*.blocked-${i}.example"]}` : `{domains: [blocked-${i}.example]}`;
    lines.push(`    - {name: deny-${i}, action: deny, match: ${match}}`);
  }
  lines.push(
    '    - {name: allow-bench-upstream, action: allow, match: {domains: ["127.0.0.1"]}}',
    '  accessRestriction:',
    '    defaultAction: deny',
    `    connectPorts: [${[443, ...connectPorts].join(', ')}]`,
    '    ssrf: {allowRanges: [127.0.0.0/8]}',
    '',
  );
  return lines.join('\n');
}

export interface SlaveLaunch {
  name: string;
  extraArgs: string[];
  nodeArgs?: string[];
  /** Require Basic authentication of one user from a users file (bcrypt, cost 10). */
  withAuth?: boolean;
  /** How long the slave may take to listen (default 15 s). */
  listenTimeoutMs?: number;
}

/** `launch` may be just the extra CLI arguments (bench/reports calls it so). */
export async function startSlave(
  group: ProcessGroup,
  root: string,
  connectPorts: number[],
  launchOrArgs: SlaveLaunch | string[],
): Promise<RunningProxy> {
  const launch: SlaveLaunch = Array.isArray(launchOrArgs) ? { name: 'slave', extraArgs: launchOrArgs } : launchOrArgs;
  const cli = join(root, 'proxy/dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npx tsc -b" first`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-slave-'));
  const authArgs: string[] = [];
  let credentials: string | undefined;
  if (launch.withAuth) {
    const password = randomBytes(12).toString('hex');
    writeFileSync(join(dir, 'users'), `bench:${bcrypt.hashSync(password, 10)}\n`);
    authArgs.push('--auth-users', join(dir, 'users'));
    credentials = `bench:${password}`;
  }
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, benchPolicyYaml(connectPorts));
  // A port free a moment ago can be taken meanwhile (another process's outgoing connection): try anew.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const metricsPort = await freePort();
    // As the proxy image runs it: the same node options first, then the bench's own. A --baseline
    // checkout built before the preload existed runs as it was built.
    const args = [
      ...(existsSync(join(root, 'proxy/dist', BACKGROUND_THREADS_PRELOAD))
        ? serverNodeArgs(join(root, 'proxy/dist'))
        : SERVER_NODE_FLAGS),
      ...(launch.nodeArgs ?? []),
      cli,
      'slave',
      '--policy',
      policy,
      '--listen',
      `127.0.0.1:${port}`,
      '--metrics-listen',
      `127.0.0.1:${metricsPort}`,
      '--state-dir',
      join(dir, 'state'),
      ...authArgs,
      ...launch.extraArgs,
    ];
    const child = group.start(launch.name, process.execPath, args, { cwd: dir });
    const output = collectOutput(child);
    try {
      // Not just the proxy port: the metrics port opens after it, and a slave that lost it exits.
      await waitForStarted(child, output, launch.listenTimeoutMs ?? 15_000);
    } catch (err) {
      if (attempt < 3 && output().includes('EADDRINUSE')) continue;
      throw new Error(`${(err as Error).message}\n${output()}`);
    }
    return {
      name: launch.name,
      port,
      credentials,
      child,
      output,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
}

/** Waits for the slave's "slave started" line, logged once every listener (metrics too) is open. */
async function waitForStarted(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!output().includes(`"msg":"${LOG.slaveStarted}"`)) {
    if (child.exitCode !== null) throw new Error(`the slave exited with status ${child.exitCode} while starting`);
    if (Date.now() > end) throw new Error(`the slave logged no "${LOG.slaveStarted}" within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
