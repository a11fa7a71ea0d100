/**
 * Report queries on SQLite run in worker threads, each with its own read-only connection:
 * better-sqlite3 is synchronous, and a 30-day report over millions of rows takes seconds,
 * during which the master's event loop must keep answering slaves (batches, policy long-polls)
 * and the UI. WAL lets these readers run while the main connection ingests.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

type Row = Record<string, unknown>;

// Plain CommonJS, evaluated by the worker: no build step, no path to a compiled file.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -65536');
const statements = new Map();
parentPort.on('message', ({ id, sql, params }) => {
  try {
    let st = statements.get(sql);
    if (!st) {
      st = db.prepare(sql);
      if (statements.size < 256) statements.set(sql, st);
    }
    parentPort.postMessage({ id, rows: st.all(...params) });
  } catch (err) {
    parentPort.postMessage({ id, error: err && err.message ? err.message : String(err) });
  }
});
`;

interface Pending {
  resolve(rows: Row[]): void;
  reject(err: Error): void;
}

interface Reader {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class SqliteReaders {
  private readonly readers: Reader[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly path: string,
    size = 2,
  ) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    for (let i = 0; i < size; i++) {
      const reader = { pending: new Map() } as Reader;
      this.start(reader, driver);
      this.readers.push(reader);
    }
  }

  private start(reader: Reader, driver: string): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: this.path } });
    reader.worker = worker;
    worker.on('message', (m: { id: number; rows?: Row[]; error?: string }) => {
      const p = reader.pending.get(m.id);
      if (!p) return;
      reader.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`report query on ${this.path}: ${m.error}`));
      else p.resolve(m.rows ?? []);
      if (reader.pending.size === 0) worker.unref();
    });
    worker.on('error', (err) => this.failAll(reader, err));
    worker.on('exit', (code) => {
      if (this.closed) return;
      this.failAll(reader, new Error(`report query worker for ${this.path} exited with ${code}`));
      // A reader that died (out of memory on a huge report, say) is replaced for the next query.
      this.start(reader, driver);
    });
    worker.unref();
  }

  all(sql: string, params: unknown[]): Promise<Row[]> {
    if (this.closed) return Promise.reject(new Error(`report store ${this.path} is closed`));
    // The least busy reader: a long report on one does not hold up a short one.
    const reader = this.readers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise<Row[]>((resolve, reject) => {
      reader.pending.set(id, { resolve, reject });
      reader.worker.ref();
      reader.worker.postMessage({ id, sql, params });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.readers) this.failAll(r, new Error(`report store ${this.path} closed during a query`));
    await Promise.all(this.readers.map((r) => r.worker.terminate()));
  }

  private failAll(reader: Reader, err: Error): void {
    for (const p of reader.pending.values()) p.reject(err);
    reader.pending.clear();
  }
}
