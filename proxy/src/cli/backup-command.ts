/**
 * `safesquid master backup` and `safesquid master restore`.
 *
 * backup asks the running master for a backup (`GET /api/v1/backup`, an administrator's
 * request) and keeps it only once the whole file has been read back and checked; restore puts
 * a backup into a stopped master's data directory (backup/restore.ts).
 */
import { createWriteStream, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Agent, request, type Dispatcher } from 'undici';
import { BackupFileError, verifyBackupFile, type BackupManifest } from '../backup/backup-archive.js';
import { restoreBackup, RestoreRefused } from '../backup/restore.js';
import { UsageError } from '../errors.js';

export const BACKUP_USAGE = `usage: safesquid master backup (--to FILE | --to-dir DIR) [options]

Asks a running master for a backup of its policy store (every version), slave registry, report
database (SQLite; with PostgreSQL use pg_dump) and the secrets it generated into its data dir.
The master copies its databases while slaves keep posting. The file is checked after download
and written with mode 0600: it holds the cluster token and admin password if the master made them.

  --master URL               the master's portal (default http://127.0.0.1:8888)
  --to FILE                  write the backup to FILE (an existing file is not overwritten)
  --to-dir DIR               or into DIR as safesquid-backup-<UTC time>.tar.gz
  --keep N                   with --to-dir: then delete all but the newest N backups there
  --admin-token-file FILE    a bearer token with administrator rights (the master's --admin-token-file)
  --admin-user NAME          or log in as this administrator (default admin) ...
  --admin-password-file FILE ... with the password in FILE
  --ca-file FILE             CA certificate(s) (PEM) that signed an https master's certificate
  --final                    the last backup before this master is replaced: it then refuses report
                             batches (slaves keep them in their spool) until it is restarted; stop it
                             and start the restored master in its place, and nothing is lost
  --timeout SECONDS          give up after this long (default 3600)
  --json                     print the backup's manifest as JSON
`;

export const RESTORE_USAGE = `usage: safesquid master restore --from FILE [--data-dir DIR] [--force | --check]

Puts a backup into a master's data directory; start the master on it afterwards. Every part is
checked first (checksums, SQLite integrity, counts); a bad file changes nothing. Restore never
touches a data directory a running master uses, and replaces a stopped master's data only with
--force, moving it aside into DIR/replaced-<UTC time>/. Reports kept in PostgreSQL are restored
with pg_restore (docs/operations.md).

  --from FILE                the backup file (from safesquid master backup)
  --data-dir DIR             the master's data directory (default ./safesquid-data)
  --force                    replace the data already in DIR (moved aside, not deleted)
  --check                    only check FILE and say what it holds; touch nothing
  --json                     print the backup's manifest as JSON
`;

const BACKUP_OPTIONS = {
  master: { type: 'string', default: 'http://127.0.0.1:8888' },
  to: { type: 'string' },
  'to-dir': { type: 'string' },
  keep: { type: 'string' },
  'admin-token-file': { type: 'string' },
  'admin-user': { type: 'string', default: 'admin' },
  'admin-password-file': { type: 'string' },
  'ca-file': { type: 'string' },
  timeout: { type: 'string', default: '3600' },
  final: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

const RESTORE_OPTIONS = {
  from: { type: 'string' },
  'data-dir': { type: 'string', default: './safesquid-data' },
  force: { type: 'boolean' },
  check: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

const BACKUP_NAME = /^safesquid-backup-\d{8}T\d{6}Z\.tar\.gz$/;

export function describe(m: BackupManifest): string {
  const latest = m.policy.latestVersion === null ? '' : ` (newest ${m.policy.latestVersion}, ${m.policy.latestHash})`;
  const reports =
    m.reports.store === 'sqlite'
      ? `${m.reports.records} access records in ${m.reports.batches} batches`
      : 'reports in PostgreSQL (not in this file: back them up with pg_dump)';
  return `taken ${m.createdAt} from a ${m.master.mode} master ${m.master.version}: ${m.policy.versions} policy versions${latest}, ${m.slaves.count} slaves, ${reports}`;
}

function readSecret(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!text) throw new UsageError(`${flag}: ${file} is empty`);
  return text;
}

async function errorText(res: Dispatcher.ResponseData): Promise<string> {
  const text = await res.body.text().catch(() => '');
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    return text.slice(0, 300);
  }
}

function fail(command: string, err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`safesquid master ${command}: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`safesquid master ${command}: ${(err as Error).message}\n`);
  return 1;
}

export async function runBackup(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: BACKUP_OPTIONS }));
  } catch (err) {
    process.stderr.write(`safesquid master backup: ${(err as Error).message}\n\n${BACKUP_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(BACKUP_USAGE);
    return 0;
  }
  let partial: string | undefined;
  try {
    if ((values.to === undefined) === (values['to-dir'] === undefined))
      throw new UsageError('give one of --to FILE or --to-dir DIR');
    let keep: number | undefined;
    if (values.keep !== undefined) {
      keep = Number(values.keep);
      if (values['to-dir'] === undefined) throw new UsageError('--keep goes with --to-dir');
      if (!Number.isInteger(keep) || keep < 1)
        throw new UsageError(`--keep must be a whole number ≥ 1, got "${values.keep}"`);
    }
    const timeoutS = Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0)
      throw new UsageError(`--timeout must be a number of seconds > 0, got "${values.timeout}"`);
    let base: URL;
    try {
      base = new URL(values.master);
      if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
      // A portal behind a path prefix (an Ingress at /safesquid/) keeps it: API paths are relative to it.
      if (!base.pathname.endsWith('/')) base.pathname += '/';
    } catch {
      throw new UsageError(`--master must be an http:// or https:// URL, got "${values.master}"`);
    }
    if (values['admin-token-file'] !== undefined && values['admin-password-file'] !== undefined)
      throw new UsageError('give --admin-token-file or --admin-password-file, not both');
    if (values['admin-token-file'] === undefined && values['admin-password-file'] === undefined)
      throw new UsageError('the master wants an administrator: give --admin-token-file or --admin-password-file');
    const ca = values['ca-file'] === undefined ? undefined : readSecret(values['ca-file'], '--ca-file');

    let target: string;
    if (values.to !== undefined) {
      target = resolve(values.to);
      if (existsSync(target)) throw new UsageError(`--to: ${target} exists; backup does not overwrite a file`);
    } else {
      const dir = resolve(values['to-dir'] as string);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--to-dir: no such directory ${dir}`);
      const stamp = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
      target = join(dir, `safesquid-backup-${stamp}.tar.gz`);
    }

    const dispatcher = new Agent({
      connect: ca ? { ca } : {},
      bodyTimeout: timeoutS * 1000,
      headersTimeout: timeoutS * 1000,
    });
    const headers: Record<string, string> = {};
    if (values['admin-token-file'] !== undefined) {
      headers.authorization = `Bearer ${readSecret(values['admin-token-file'], '--admin-token-file')}`;
    } else {
      const password = readSecret(values['admin-password-file'] as string, '--admin-password-file');
      const login = await request(new URL('api/v1/session', base), {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: values['admin-user'], password }),
      });
      if (login.statusCode !== 200)
        throw new Error(
          `the master refused the login as ${values['admin-user']} (${login.statusCode}): ${await errorText(login)}`,
        );
      await login.body.dump();
      const setCookie = login.headers['set-cookie'];
      const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? '']).map((c) => c.split(';')[0]).join('; ');
      headers.cookie = cookie;
    }
    const url = new URL('api/v1/backup', base);
    if (values.final) url.searchParams.set('final', 'true');
    const res = await request(url, { dispatcher, headers });
    if (res.statusCode !== 200) throw new Error(`the master answered ${res.statusCode}: ${await errorText(res)}`);
    partial = `${target}.partial`;
    await pipeline(res.body, createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
    let manifest: BackupManifest;
    try {
      manifest = await verifyBackupFile(partial);
    } catch (err) {
      if (err instanceof BackupFileError) throw new Error(`the backup the master sent is unusable: ${err.message}`);
      throw err;
    }
    renameSync(partial, target);
    partial = undefined;
    await dispatcher.close();
    const bytes = statSync(target).size;
    if (values.json) process.stdout.write(`${JSON.stringify({ file: target, bytes, manifest })}\n`);
    else process.stdout.write(`backup written to ${target} (${bytes} bytes): ${describe(manifest)}\n`);
    if (keep !== undefined) {
      const dir = resolve(values['to-dir'] as string);
      const old = readdirSync(dir)
        .filter((n) => BACKUP_NAME.test(n))
        .sort()
        .reverse()
        .slice(keep);
      for (const n of old) rmSync(join(dir, n));
      if (old.length && !values.json) process.stdout.write(`deleted ${old.length} older backups: ${old.join(', ')}\n`);
    }
    return 0;
  } catch (err) {
    if (partial) rmSync(partial, { force: true });
    return fail('backup', err);
  }
}

export async function runRestore(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: RESTORE_OPTIONS }));
  } catch (err) {
    process.stderr.write(`safesquid master restore: ${(err as Error).message}\n\n${RESTORE_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(RESTORE_USAGE);
    return 0;
  }
  try {
    if (values.from === undefined) throw new UsageError('--from FILE is required');
    if (values.check && values.force) throw new UsageError('--check touches nothing: it does not go with --force');
    const file = resolve(values.from);
    if (!existsSync(file)) throw new UsageError(`--from: no such file ${file}`);
    if (values.check) {
      let manifest: BackupManifest;
      try {
        manifest = await verifyBackupFile(file);
      } catch (err) {
        if (err instanceof BackupFileError) throw new RestoreRefused(`${file} is not a usable backup: ${err.message}`);
        throw err;
      }
      if (values.json) process.stdout.write(`${JSON.stringify({ file, manifest })}\n`);
      else process.stdout.write(`${basename(file)} is a sound backup, ${describe(manifest)}\n`);
      return 0;
    }
    const dataDir = resolve(values['data-dir']);
    const r = await restoreBackup({ file, dataDir, force: values.force === true });
    if (values.json)
      process.stdout.write(
        `${JSON.stringify({ dataDir, replacedDir: r.replacedDir ?? null, manifest: r.manifest })}\n`,
      );
    else {
      process.stdout.write(`restored into ${dataDir}: ${describe(r.manifest)}\n`);
      if (r.replacedDir) process.stdout.write(`the data it replaced is in ${r.replacedDir}\n`);
      if (r.manifest.reports.store === 'postgres')
        process.stdout.write('reports were in PostgreSQL: restore them with pg_restore (docs/operations.md)\n');
      process.stdout.write('start the master on this data directory now\n');
    }
    return 0;
  } catch (err) {
    return fail('restore', err);
  }
}
