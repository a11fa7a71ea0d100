/**
 * The slave's on-disk report spool: every batch is written here (gzip JSON, exactly the body
 * the master receives) before it is sent, and deleted only once the master acknowledged it.
 * File names keep the order and what the bound needs without reading the files:
 * `<16-digit sequence>-<record count>-<batch id>.json.gz`.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface SpoolEntry {
  readonly name: string;
  readonly seq: number;
  readonly records: number;
  readonly batchId: string;
  readonly bytes: number;
}

/**
 * Bodies of the newest batches kept in memory as well: with the master up, a batch is sent right
 * after it is spooled, and reading the file back would only cost time.
 */
const CACHED_BODY_BYTES = 8 * 1024 * 1024;

const NAME = /^(\d{16})-(\d+)-([A-Za-z0-9][A-Za-z0-9._:-]*)\.json\.gz$/;
function entryName(seq: number, records: number, batchId: string): string {
  return `${String(seq).padStart(16, '0')}-${records}-${batchId}.json.gz`;
}

/** Rejected batches are kept for inspection, but not without bound. */
const MAX_REJECTED = 100;

export class Spool {
  private entries: SpoolEntry[] = [];
  private nextSeq = 1;
  private totalBytes = 0;
  private readonly cached = new Map<SpoolEntry, Buffer>();
  private cachedBytes = 0;
  readonly rejectedDir: string;

  /** Reads what an earlier run left behind (in order); drops half-written files, which were never sent. */
  constructor(readonly dir: string) {
    this.rejectedDir = join(dir, 'rejected');
    try {
      mkdirSync(this.rejectedDir, { recursive: true });
    } catch (err) {
      throw new Error(`report spool: cannot create ${this.rejectedDir}: ${(err as Error).message}`, { cause: err });
    }
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.tmp')) {
        rmSync(join(dir, name), { force: true });
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      const entry = {
        name,
        seq: Number(m[1]),
        records: Number(m[2]),
        batchId: m[3],
        bytes: statSync(join(dir, name)).size,
      };
      this.entries.push(entry);
      this.totalBytes += entry.bytes;
      this.nextSeq = Math.max(this.nextSeq, entry.seq + 1);
    }
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get batches(): number {
    return this.entries.length;
  }

  get records(): number {
    return this.entries.reduce((n, e) => n + e.records, 0);
  }

  oldest(): SpoolEntry | undefined {
    return this.entries[0];
  }

  /**
   * Writes a batch durably (write, fsync, rename) and appends it. Callers await one append
   * before the next: the order of files is the order of calls.
   */
  async append(batchId: string, records: number, body: Buffer): Promise<SpoolEntry> {
    const seq = this.nextSeq++;
    const entry = { name: entryName(seq, records, batchId), seq, records, batchId, bytes: body.length };
    await this.writeDurably(entry.name, body);
    this.entries.push(entry);
    this.totalBytes += entry.bytes;
    this.cache(entry, body);
    return entry;
  }

  /**
   * Puts `body`, now holding `records` records, in `entry`'s place: same batch id and place in
   * the order. The new file is durable before the old one goes, so a crash leaves one of them.
   */
  async replace(entry: SpoolEntry, records: number, body: Buffer): Promise<void> {
    const i = this.entries.indexOf(entry);
    if (i < 0) throw new Error(`report spool: batch ${entry.batchId} is no longer spooled`);
    const next = {
      name: entryName(entry.seq, records, entry.batchId),
      seq: entry.seq,
      records,
      batchId: entry.batchId,
      bytes: body.length,
    };
    await this.writeDurably(next.name, body);
    if (next.name !== entry.name) await unlink(join(this.dir, entry.name));
    this.uncache(entry);
    this.entries[i] = next;
    this.totalBytes += next.bytes - entry.bytes;
    this.cache(next, body);
  }

  /** write, fsync, rename, fsync the directory: the file is whole and stays through a power cut. */
  private async writeDurably(name: string, body: Buffer): Promise<void> {
    const tmp = join(this.dir, `${name}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, name));
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /**
   * Drops the oldest batches (never `keep`, the one being sent) until the spool fits in
   * `limitBytes`; returns the records dropped. The newest batch always stays.
   */
  enforceLimit(limitBytes: number, keep?: SpoolEntry): number {
    let dropped = 0;
    while (this.totalBytes > limitBytes && this.entries.length > 1) {
      const victim = this.entries[0] === keep ? this.entries[1] : this.entries[0];
      if (victim === this.entries[this.entries.length - 1]) break;
      this.forget(victim);
      rmSync(join(this.dir, victim.name), { force: true });
      dropped += victim.records;
    }
    return dropped;
  }

  read(entry: SpoolEntry): Promise<Buffer> {
    const body = this.cached.get(entry);
    return body ? Promise.resolve(body) : readFile(join(this.dir, entry.name));
  }

  async remove(entry: SpoolEntry): Promise<void> {
    this.forget(entry);
    await unlink(join(this.dir, entry.name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Moves a batch the master refused into `rejected/`, so it neither blocks the spool nor vanishes. */
  async reject(entry: SpoolEntry): Promise<void> {
    this.forget(entry);
    await rename(join(this.dir, entry.name), join(this.rejectedDir, entry.name));
    const rejected = readdirSync(this.rejectedDir).sort();
    for (const old of rejected.slice(0, Math.max(0, rejected.length - MAX_REJECTED))) {
      rmSync(join(this.rejectedDir, old), { force: true });
    }
  }

  private forget(entry: SpoolEntry): void {
    this.uncache(entry);
    const i = this.entries.indexOf(entry);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.totalBytes -= entry.bytes;
  }

  /** Keeps the newest bodies within CACHED_BODY_BYTES: the oldest give way (they are on disk). */
  private cache(entry: SpoolEntry, body: Buffer): void {
    if (body.length > CACHED_BODY_BYTES) return;
    this.cached.set(entry, body);
    this.cachedBytes += body.length;
    for (const old of this.cached.keys()) {
      if (this.cachedBytes <= CACHED_BODY_BYTES) break;
      this.uncache(old);
    }
  }

  private uncache(entry: SpoolEntry): void {
    const body = this.cached.get(entry);
    if (!body) return;
    this.cached.delete(entry);
    this.cachedBytes -= body.length;
  }
}
