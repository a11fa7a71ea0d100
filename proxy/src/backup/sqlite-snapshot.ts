/**
 * A consistent copy of a live SQLite database with SQLite's online backup API
 * (better-sqlite3 `db.backup()`), in a worker thread with its own read-only connection.
 *
 * Why this way: the master's writer keeps committing while slaves post. A backup through another
 * connection restarts whenever the source changes between two of its steps, so under steady
 * traffic a page-by-page backup might never finish. The first step here is small; every later one
 * copies all remaining pages in one step, which is one read transaction: one snapshot of the WAL,
 * taken while the writer goes on appending (WAL readers do not block the writer). The copy runs
 * off the master's event loop, which keeps answering slaves and the UI meanwhile.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS, evaluated by the worker: no build step, no path to a compiled file.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
(async () => {
  let db;
  try {
    db = new Database(workerData.path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const r = await db.backup(workerData.dest, { progress: () => 0x7fffffff });
    db.close();
    db = undefined;
    const copy = new Database(workerData.dest, { fileMustExist: true });
    const counts = {};
    for (const [name, sql] of Object.entries(workerData.counts)) counts[name] = Number(copy.prepare(sql).pluck().get());
    // The copy stands alone: no -wal file beside it to lose.
    copy.pragma('journal_mode = DELETE');
    copy.close();
    parentPort.postMessage({ pages: r.totalPages, counts });
  } catch (err) {
    try { db && db.close(); } catch {}
    parentPort.postMessage({ error: err && err.message ? err.message : String(err) });
  }
})();
`;

export interface SnapshotResult {
  pages: number;
  /** The result of each count query, run on the copy. */
  counts: Record<string, number>;
}

/**
 * Copies the database at `path` to `dest` (which must not exist), then runs each of `counts`
 * (name -> `SELECT count(*) ...`) on the copy: figures that describe exactly what was copied.
 */
export function snapshotSqlite(
  path: string,
  dest: string,
  counts: Record<string, string> = {},
): Promise<SnapshotResult> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, dest, counts } });
    let settled = false;
    worker.once('message', (m: SnapshotResult & { error?: string }) => {
      settled = true;
      if (m.error !== undefined) reject(new Error(`backup of ${path}: ${m.error}`));
      else resolve({ pages: m.pages, counts: m.counts });
      void worker.terminate();
    });
    worker.once('error', (err) => {
      if (!settled) reject(new Error(`backup of ${path}: ${err.message}`));
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`backup of ${path}: the worker exited with ${code}`));
      settled = true;
    });
  });
}
