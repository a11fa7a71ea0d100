/**
 * `GET /api/v1/backup`: the running master writes a backup of its own state and streams it.
 *
 * Taken by the master, not by reading its files from outside, because the master is the one
 * writer: it copies each SQLite database with the online backup API while slaves keep posting
 * (sqlite-snapshot.ts), takes the slave registry from memory (not the file it saves every 2 s),
 * and works the same in Kubernetes, where the backup job reaches the master's Service and never
 * needs its volume. The parts are staged in the data directory (the one writable place in the
 * image), streamed as one archive (backup-archive.ts), and removed.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { PolicyStore } from '../portal/policy-store.js';
import { parseSnapshot } from '../portal/slave-registry-file.js';
import type { ReportStore } from '../reports/store.js';
import { packageVersion } from '../sync/package-version.js';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  writeBackupArchive,
  type BackupFileName,
  type BackupManifest,
} from './backup-archive.js';
import { snapshotSqlite } from './sqlite-snapshot.js';

export interface MasterBackupOptions {
  dataDir: string;
  mode: 'standalone' | 'kubernetes';
  policyStore: PolicyStore;
  /** The slave registry as its snapshot file would hold it. */
  slaves: { serialize(): string };
  reports?: ReportStore;
  logger: Logger;
}

/** Secrets the master generated into its data directory; a restored master needs the same ones. */
const GENERATED_SECRETS = ['cluster-token', 'admin-password'] as const;

export class MasterBackup {
  /** One backup at a time: each holds a copy of every database on disk meanwhile. */
  private running = false;

  constructor(private readonly o: MasterBackupOptions) {
    // Parts left behind by a master that died while streaming a backup.
    for (const name of readdirSync(o.dataDir))
      if (name.startsWith('.backup-')) rmSync(join(o.dataDir, name), { recursive: true, force: true });
  }

  /** Express handler. */
  readonly handle = (req: Request, res: Response): void => {
    void this.serve(req, res);
  };

  private async serve(req: Request, res: Response): Promise<void> {
    // A HEAD (a link checker, a probe) must not take a backup.
    if (req.method === 'HEAD') {
      res.status(200).type('application/gzip').end();
      return;
    }
    const final = req.query.final === 'true' || req.query.final === '1';
    if (final && this.o.reports && !this.o.reports.pauseIngest) {
      res.status(501).json({ error: 'this report store cannot pause for a final backup' });
      return;
    }
    if (this.running) {
      res.status(409).json({ error: 'a backup is already being taken; try again when it is done' });
      return;
    }
    this.running = true;
    const started = Date.now();
    const log = this.o.logger.child({ component: 'backup' });
    let stage: string | undefined;
    try {
      if (final && this.o.reports?.pauseIngest) {
        // Everything acknowledged until now goes into this backup; later batches stay with the
        // slaves, which deliver them to the restored master that replaces this one.
        await this.o.reports.pauseIngest(
          'this master took its final backup and takes no more reports: the slaves keep them for the master that replaces it',
        );
        log.warn('final backup: report batches are refused from now on, until this master is restarted');
      }
      stage = await mkdtemp(join(this.o.dataDir, '.backup-'));
      const { manifest, files } = await this.stage(stage);
      const name = `safesquid-backup-${manifest.createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`;
      res.status(200).type('application/gzip').attachment(name);
      const written = await writeBackupArchive(res, manifest, files);
      log.info(
        {
          ms: Date.now() - started,
          policyVersions: written.policy.versions,
          slaves: written.slaves.count,
          reports: written.reports,
          final,
        },
        'backup taken',
      );
    } catch (err) {
      log.error({ err }, 'backup failed');
      if (!res.headersSent) res.status(500).json({ error: `backup failed: ${(err as Error).message}` });
      // Cut mid-stream: the client sees a truncated archive and refuses it.
      else res.destroy(err as Error);
    } finally {
      this.running = false;
      if (stage) await rm(stage, { recursive: true, force: true });
    }
  }

  /** Writes every part into `dir`; returns the manifest (without checksums) and the part files. */
  async stage(
    dir: string,
  ): Promise<{ manifest: Omit<BackupManifest, 'files'>; files: Partial<Record<BackupFileName, string>> }> {
    const files: Partial<Record<BackupFileName, string>> = {};
    const createdAt = new Date().toISOString();
    files['policy.db'] = join(dir, 'policy.db');
    const policy = await snapshotSqlite(this.o.policyStore.file, files['policy.db'], {
      versions: 'SELECT count(*) FROM policy_versions',
    });
    const latest = await snapshotLatest(files['policy.db']);
    files['slaves.json'] = join(dir, 'slaves.json');
    const slavesText = this.o.slaves.serialize();
    // Read back with the master's own loader: what restore will accept.
    const slavesCount = parseSnapshot(slavesText).length;
    await writeFile(files['slaves.json'], slavesText, { mode: 0o600 });
    let reports: BackupManifest['reports'] = { store: 'postgres' };
    const store = this.o.reports;
    if (store && store.kind === 'sqlite') {
      if (!store.backupTo) throw new Error('this report store cannot be backed up');
      files['reports.db'] = join(dir, 'reports.db');
      const r = await store.backupTo(files['reports.db']);
      reports = { store: 'sqlite', records: r.records, batches: r.batches };
    }
    for (const name of GENERATED_SECRETS) {
      const path = join(this.o.dataDir, name);
      if (existsSync(path)) files[name] = path;
    }
    return {
      manifest: {
        format: BACKUP_FORMAT,
        version: BACKUP_VERSION,
        createdAt,
        master: { version: packageVersion(), mode: this.o.mode },
        policy: { versions: policy.counts.versions, ...latest },
        slaves: { count: slavesCount },
        reports,
      },
      files,
    };
  }
}

async function snapshotLatest(file: string): Promise<{ latestVersion: number | null; latestHash: string | null }> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT version, hash FROM policy_versions ORDER BY version DESC LIMIT 1').get() as
      | { version: number; hash: string }
      | undefined;
    return { latestVersion: row?.version ?? null, latestHash: row?.hash ?? null };
  } finally {
    db.close();
  }
}
