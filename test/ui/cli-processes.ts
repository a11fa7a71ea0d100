/**
 * The real `safesquid` CLI as child processes: a master (`safesquid master`) on a free loopback
 * port with its own data directory, token and admin password, and slaves pointed at it.
 */
import { join } from 'node:path';
import type { ChildHandle } from '../support/child-process.js';
import { clusterSecrets, writeSecret, type ClusterSecrets } from '../support/cluster-secrets.js';
import { portalListening, startSafesquid } from '../support/safesquid-process.js';
import { masterFlags, startSlave, type SlaveProcess } from '../support/slave-process.js';
import { until } from '../support/until.js';

// These processes get SIGTERM, then SIGKILL after 5 s.
const stopGraceMs = 5000;

export interface MasterProcess extends ChildHandle, Omit<ClusterSecrets, 'remove'> {
  url: string;
  admin: { username: string; password: string };
}

/** A master with its own scratch directory (`dir`, removed by stop()), cluster token, admin token and password. */
export async function startMasterProcess(extraArgs: string[] = []): Promise<MasterProcess> {
  const { remove, ...secrets } = clusterSecrets('ui');
  const { dir, tokenFile } = secrets;
  const admin = { username: 'admin', password: `pw-${Math.random().toString(36).slice(2)}` };
  const passwordFile = writeSecret(dir, 'admin-password', admin.password);
  const args = ['master', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--token-file', tokenFile];
  args.push(
    '--admin-password-file',
    passwordFile,
    '--admin-token-file',
    secrets.adminTokenFile,
    '--allow',
    '127.0.0.0/8',
    ...extraArgs,
  );
  let p;
  try {
    p = await startSafesquid('the master', args, portalListening, { stopGraceMs });
  } catch (err) {
    remove();
    throw err;
  }
  const stopProcess = p.stop;
  return Object.assign(p, {
    ...secrets,
    url: p.ready,
    admin,
    async stop() {
      const code = await stopProcess();
      remove();
      return code;
    },
  });
}

export type { SlaveProcess };

/** A slave that takes its policy from `master` and ships reports to it; resolves once the master lists it in sync. */
export async function startSlaveProcess(master: MasterProcess, name: string): Promise<SlaveProcess> {
  const p = await startSlave(masterFlags(master, join(master.dir, name)), { name, stopGraceMs });
  try {
    const inSync = async () => {
      const res = await fetch(`${master.url}/api/v1/slaves`, {
        headers: { Authorization: `Bearer ${master.adminToken}` },
      });
      const slaves = (await res.json()) as { name: string; inSync: boolean }[];
      return slaves.some((s) => s.name === name && s.inSync);
    };
    await until(`slave ${name} in sync with the master`, inSync, 10_000, 50);
  } catch (err) {
    await p.stop();
    throw new Error(`${(err as Error).message}:\n${p.outputTail()}`);
  }
  return p;
}
