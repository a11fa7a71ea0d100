import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Password hashes are verified on worker threads: argon2 (WASM) runs to completion in one go
 * and bcryptjs yields only every ~100 ms, so on the proxy's own thread one uncached login
 * (0.1 - 0.5 s of CPU) would stall every connection of the slave for that long.
 * Workers start on demand and end after a while without work, so an idle slave keeps no
 * argon2 memory (64 MiB per worker with common parameters).
 */

// The worker is built from source text so that it needs no file of its own next to the compiled
// (or, under jest, transformed) module; the libraries are passed as resolved paths.
/** The password hash formats the proxy users file may hold. */
export type HashKind = 'bcrypt' | 'argon2';

const resolve = createRequire(import.meta.url).resolve;
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(resolve('bcryptjs'))});
const { argon2Verify } = require(${JSON.stringify(resolve('hash-wasm'))});
parentPort.on('message', async ({ id, kind, password, hash }) => {
  try {
    const ok = kind === 'bcrypt' ? bcrypt.compareSync(password, hash) : await argon2Verify({ password, hash });
    parentPort.postMessage({ id, ok });
  } catch (err) {
    parentPort.postMessage({ id, ok: false, error: String((err && err.message) || err) });
  }
});
`;

interface Job {
  resolve(ok: boolean): void;
  reject(err: Error): void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
  idleTimer?: NodeJS.Timeout;
}

export class HashWorkerPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;

  constructor(
    readonly size = 2,
    private readonly idleMs = 30_000,
  ) {}

  get running(): number {
    return this.workers.length;
  }

  verify(kind: HashKind, password: string, hash: string): Promise<boolean> {
    const slot = this.pick();
    clearTimeout(slot.idleTimer);
    // Referenced only while it has work: a pending check keeps the process alive, an idle worker does not.
    slot.worker.ref();
    const id = this.nextId++;
    return new Promise<boolean>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
      slot.worker.postMessage({ id, kind, password, hash });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => this.retire(w)));
  }

  private pick(): PoolWorker {
    const free = this.workers.find((w) => w.jobs.size === 0);
    if (free) return free;
    if (this.workers.length < this.size) return this.spawn();
    return this.workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  private spawn(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: PoolWorker = { worker, jobs: new Map() };
    worker.on('message', ({ id, ok, error }: { id: number; ok: boolean; error?: string }) => {
      const job = slot.jobs.get(id);
      slot.jobs.delete(id);
      if (error !== undefined) job?.reject(new Error(`password hash verification failed: ${error}`));
      else job?.resolve(ok);
      if (slot.jobs.size === 0) {
        slot.worker.unref();
        slot.idleTimer = setTimeout(() => this.remove(slot), this.idleMs);
        slot.idleTimer.unref();
      }
    });
    const fail = (err: Error) => {
      this.remove(slot);
      for (const job of slot.jobs.values()) job.reject(new Error(`password hash worker stopped: ${err.message}`));
      slot.jobs.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    this.workers.push(slot);
    return slot;
  }

  private remove(slot: PoolWorker): void {
    const i = this.workers.indexOf(slot);
    if (i >= 0) this.workers.splice(i, 1);
    void this.retire(slot);
  }

  private async retire(slot: PoolWorker): Promise<void> {
    clearTimeout(slot.idleTimer);
    slot.worker.removeAllListeners('exit');
    await slot.worker.terminate();
  }
}
