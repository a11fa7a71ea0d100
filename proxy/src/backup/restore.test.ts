import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import pino from 'pino';
import { PolicyStore } from '../portal/policy-store.js';
import { fixtureBatches } from '../reports/store-contract.testkit.js';
import { SqliteReportStore } from '../reports/store-sqlite.js';
import { IngestPausedError } from '../reports/store.js';
import { writeBackupArchive } from './backup-archive.js';
import { MasterBackup } from './master-backup.js';
import { restoreBackup, RestoreRefused } from './restore.js';

let dir: string;
let file: string;
let records: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'restore-'));
  const data = join(dir, 'data');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(data);
  const policy = new PolicyStore(join(data, 'policy.db'));
  policy.append({ text: 'rules: []', hash: 'sha256:a', author: 'test' });
  policy.append({ text: 'rules: []\n', hash: 'sha256:b', author: 'test' });
  const reports = new SqliteReportStore(join(data, 'reports.db'));
  const batches = fixtureBatches();
  for (const b of batches) await reports.ingestBatch(b.id, b.slave, b.records);
  records = batches.reduce((n, b) => n + b.records.length, 0);
  const backup = new MasterBackup({
    dataDir: data,
    mode: 'standalone',
    policyStore: policy,
    slaves: { serialize: () => JSON.stringify({ format: 1, slaves: [] }) },
    reports,
    logger: pino({ level: 'silent' }),
  });
  // What ?final=true does first: later batches are refused, for the slaves to keep.
  await reports.pauseIngest('handing over');
  await expect(reports.ingestBatch('late', 's', [])).rejects.toBeInstanceOf(IngestPausedError);
  const stage = join(data, '.backup-test');
  mkdirSync(stage);
  const { manifest, files } = await backup.stage(stage);
  file = join(dir, 'backup.tar.gz');
  const out = createWriteStream(file);
  await writeBackupArchive(out, manifest, files);
  await finished(out);
  policy.close();
  await reports.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('restores into an empty data directory: every policy version, every record and batch id', async () => {
  const target = join(dir, 'fresh');
  const r = await restoreBackup({ file, dataDir: target, force: false });
  expect(r.manifest.policy).toEqual({ versions: 2, latestVersion: 2, latestHash: 'sha256:b' });
  expect(r.manifest.reports).toMatchObject({ store: 'sqlite', records });
  expect(r.restored.sort()).toEqual(['policy.db', 'reports.db', 'slaves.json']);
  expect(readdirSync(target).filter((n) => n.startsWith('.'))).toEqual([]);
  const restored = new SqliteReportStore(join(target, 'reports.db'));
  expect(await restored.count()).toBe(records);
  const again = fixtureBatches()[0];
  expect(await restored.ingestBatch(again.id, again.slave, again.records)).toEqual({ inserted: 0, duplicate: true });
  await restored.close();
});

it('refuses a data directory whose database another process holds open, even with force', async () => {
  const target = join(dir, 'busy');
  await restoreBackup({ file, dataDir: target, force: false });
  // A master is another process: SQLite's locks are seen across processes.
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `const db = new (require('better-sqlite3'))(${JSON.stringify(join(target, 'policy.db'))});
       db.pragma('journal_mode = WAL'); db.prepare('SELECT count(*) FROM policy_versions').get();
       process.stdout.write('open\\n'); setInterval(() => {}, 1000);`,
    ],
    { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
    });
    await expect(restoreBackup({ file, dataDir: target, force: true })).rejects.toThrow(
      /a master is running on .*busy \(.*policy\.db is open in another process\)/,
    );
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
  }
  // Once it is gone, the same restore goes through.
  expect((await restoreBackup({ file, dataDir: target, force: true })).replacedDir).toBeDefined();
});

it('replaces existing data only with force, and moves it aside', async () => {
  const target = join(dir, 'occupied');
  await restoreBackup({ file, dataDir: target, force: false });
  const err = await restoreBackup({ file, dataDir: target, force: false }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RestoreRefused);
  expect((err as Error).message).toMatch(
    /already holds a master's data \(policy\.db, reports\.db, slaves\.json\).*--force/,
  );
  const r = await restoreBackup({ file, dataDir: target, force: true });
  expect(r.replacedDir).toBeDefined();
  expect(readdirSync(r.replacedDir as string).sort()).toEqual(['policy.db', 'reports.db', 'slaves.json']);
  expect(existsSync(join(target, 'policy.db'))).toBe(true);
});

it('refuses a file that is not a backup and leaves the directory as it was', async () => {
  const target = join(dir, 'untouched');
  const bogus = join(dir, 'bogus.tar.gz');
  writeFileSync(bogus, 'nope');
  await expect(restoreBackup({ file: bogus, dataDir: target, force: false })).rejects.toThrow(
    /bogus\.tar\.gz is not a usable backup: not a gzip-compressed SafeSquid backup/,
  );
  expect(readdirSync(target)).toEqual([]);
});
