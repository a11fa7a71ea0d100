import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.js';

/** A scratch directory for a master and its slaves, with a fresh cluster token and admin token in files. */
export interface ClusterSecrets {
  dir: string;
  clusterToken: string;
  tokenFile: string;
  adminToken: string;
  adminTokenFile: string;
  /** Removes the directory with everything the processes wrote there. */
  remove(): void;
}

const random = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2)}`;

/** Writes `value` to `dir/name`, readable by the owner only, as the CLI's *-file flags expect secrets. */
export function writeSecret(dir: string, name: string, value: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}

export function clusterSecrets(prefix = 'cluster'): ClusterSecrets {
  const { path: dir, remove } = tempDir(prefix);
  const clusterToken = random('cluster');
  const adminToken = random('admin');
  return {
    dir,
    clusterToken,
    tokenFile: writeSecret(dir, 'cluster-token', clusterToken),
    adminToken,
    adminTokenFile: writeSecret(dir, 'admin-token', adminToken),
    remove,
  };
}
