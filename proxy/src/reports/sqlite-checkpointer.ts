/**
 * WAL checkpoints of the report store in a worker thread with its own connection. A checkpoint
 * copies tens of MiB of pages from the WAL back into the database file and fsyncs it: 100-150 ms
 * that SQLite's automatic checkpoint would spend inside a COMMIT on the master's event loop.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS, evaluated by the worker: no build step, no path to a compiled file.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
let openError;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch (err) {
  openError = 'cannot open the database: ' + (err && err.message ? err.message : String(err));
}
parentPort.on('message', () => {
  if (!db) {
    parentPort.postMessage({ error: openError });
    return;
  }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ walFrames: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: err && err.message ? err.message : String(err) });
  }
});
`;

export interface CheckpointResult {
  /** Frames in the WAL when the checkpoint ran. */
  walFrames: number;
  /** Frames copied back into the database file (all of them unless a reader held an older snapshot). */
  checkpointed: number;
}

export class SqliteCheckpointer {
  private readonly worker: Worker;
  private waiting?: { resolve(r: CheckpointResult): void; reject(err: Error): void };
  /** Why the worker is gone, once it is: a message to it would never be answered. */
  private exited?: string;

  constructor(private readonly path: string) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path } });
    this.worker.unref();
    this.worker.on('message', (m: CheckpointResult & { error?: string }) => {
      const w = this.take();
      if (m.error !== undefined) w?.reject(new Error(`WAL checkpoint of ${path}: ${m.error}`));
      else w?.resolve({ walFrames: m.walFrames, checkpointed: m.checkpointed });
    });
    this.worker.on('error', (err: unknown) => {
      // An exception thrown in the worker may arrive as a plain object with some of its fields.
      const { message, code } = (err ?? {}) as { message?: unknown; code?: unknown };
      const why = typeof message === 'string' ? message : typeof code === 'string' ? code : String(err);
      this.take()?.reject(new Error(`WAL checkpoint worker for ${path} failed: ${why}`));
    });
    this.worker.on('exit', (code) => {
      this.exited = `WAL checkpoint worker for ${path} exited with ${code}`;
      this.take()?.reject(new Error(this.exited));
    });
  }

  /** One checkpoint (PASSIVE: it never waits for the writer); one at a time. */
  run(): Promise<CheckpointResult> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    if (this.waiting) return Promise.reject(new Error(`a WAL checkpoint of ${this.path} is already running`));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.ref();
      this.worker.postMessage(null);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private take() {
    const w = this.waiting;
    this.waiting = undefined;
    this.worker.unref();
    return w;
  }
}
