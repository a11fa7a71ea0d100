import type { AccessRecord } from './access-record.js';
import { ROW_COLUMNS, RowEncoder, rowBound, type RecordSource, type WellFormable } from './record-encoding.js';

/** Records are appended into chunks of this size (a larger one for a record that does not fit). */
const CHUNK_BYTES = 64 * 1024;
/** Ends recorded per chunk: far more than the ~90-byte minimum row allows in CHUNK_BYTES. */
const CHUNK_RECORDS = 1024;
/**
 * Drained chunks kept for reuse (8 MiB: several batches of 10 000 records). A chunk that is freed and
 * allocated anew each time lives long enough to be promoted, and old-generation garbage is what
 * costs major collections.
 */
const SPARE_CHUNKS = 128;
const COLUMNS_JSON = `"columns":${JSON.stringify(ROW_COLUMNS)},"rows":[`;
const BATCH_TAIL = Buffer.from(']}');

interface Chunk {
  readonly buf: Buffer;
  /** ends[i]: byte offset just past record i. Record i starts at ends[i - 1] (0 for the first). */
  readonly ends: Uint32Array;
  count: number;
  /** Index of the oldest record still queued; the ones before it were taken or dropped. */
  first: number;
  /** The policy-hash keys its records use (mostly one). */
  readonly hashKeys: number[];
}

/** Records taken from the queue as one batch's JSON. */
export interface TakenRecords {
  records: number;
  /** Valid until the next take(): it is the queue's reused scratch buffer. */
  json: Buffer;
}

export class RecordQueue {
  private readonly encoder = new RowEncoder();
  private chunks: Chunk[] = [];
  private spare: Chunk[] = [];
  /** Where take() assembles a batch; reused, for the same reason chunks are. */
  private scratch = Buffer.alloc(0);
  private records = 0;
  private byteCount = 0;
  /** The key rows carry for each policy hash still queued; forgotten once no queued record uses it. */
  private readonly hashKeys = new Map<string, number>();
  private nextHashKey = 0;
  private lastHash: string | undefined = undefined;
  private lastHashKey = -1;
  /** `"policyHashes":{...},` for the hashes above, rebuilt when they change. */
  private hashesJson = '"policyHashes":{},';
  dropped = 0;

  constructor(
    readonly capacity = 100_000,
    /** Bytes of rows held at most (about 120 bytes a record). */
    readonly maxBytes = 64 * 1024 * 1024,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`record queue capacity must be a positive integer, got ${capacity}`);
    }
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw new RangeError(`record queue maxBytes must be a positive integer, got ${maxBytes}`);
    }
  }

  get size(): number {
    return this.records;
  }

  /** Bytes of record JSON queued. */
  get bytes(): number {
    return this.byteCount;
  }

  push(record: AccessRecord): void {
    this.record(record, record.durationMs);
  }

  /** Queues the record of a finished request without building an AccessRecord object. */
  record(source: RecordSource, durationMs: number): void {
    const hashKey = source.policyHash === undefined ? -1 : this.hashKey(source.policyHash);
    const bound = rowBound(source);
    let c = this.chunks[this.chunks.length - 1];
    let used = c && c.count > 0 ? c.ends[c.count - 1] : 0;
    if (!c || c.count === CHUNK_RECORDS || c.buf.length - used < bound) {
      c = this.newChunk(bound);
      this.chunks.push(c);
      used = 0;
    }
    const end = this.encoder.write(c.buf, used, source, durationMs, hashKey);
    c.ends[c.count++] = end;
    if (hashKey >= 0 && c.hashKeys[c.hashKeys.length - 1] !== hashKey && !c.hashKeys.includes(hashKey))
      c.hashKeys.push(hashKey);
    this.records++;
    this.byteCount += end - used;
    while ((this.records > this.capacity || this.byteCount > this.maxBytes) && this.records > 1) this.dropOldest();
  }

  private hashKey(hash: string): number {
    if (hash !== this.lastHash) {
      this.lastHash = hash;
      const known = this.hashKeys.get(hash);
      if (known === undefined) {
        this.lastHashKey = this.nextHashKey++;
        this.hashKeys.set(hash, this.lastHashKey);
        this.forgetUnusedHashes();
        this.hashesJson = this.policyHashesJson();
      } else {
        this.lastHashKey = known;
      }
    }
    return this.lastHashKey;
  }

  /** Drops the hashes no queued record uses; true if any. */
  private forgetUnusedHashes(): boolean {
    if (this.hashKeys.size < 2) return false;
    const used = new Set<number>([this.lastHashKey]);
    for (const c of this.chunks) for (const key of c.hashKeys) used.add(key);
    let forgot = false;
    for (const [hash, key] of this.hashKeys) {
      if (!used.has(key)) {
        this.hashKeys.delete(hash);
        forgot = true;
      }
    }
    return forgot;
  }

  private policyHashesJson(): string {
    const members = [...this.hashKeys].map(
      ([hash, key]) => `"${key}":${JSON.stringify((hash as WellFormable).toWellFormed())}`,
    );
    return `"policyHashes":{${members.join(',')}},`;
  }

  /**
   * Removes up to `maxRecords` records, oldest first, as one batch's JSON of at most `maxBytes`
   * (but always at least one record, however long): `{` + `batchFields` (the batch's own members,
   * e.g. `"batchId":"b-1","slave":"s1"`) + its `policyHashes`, `columns` and `rows`. Undefined when
   * empty (or asked for none).
   * The JSON is valid until the next take(): use it (or copy it) first.
   */
  take(maxRecords: number, maxBytes: number, batchFields: string): TakenRecords | undefined {
    if (this.records === 0 || maxRecords < 1) return undefined;
    // Every hash still queued, which may be more than this batch uses: the master ignores the rest.
    const head = Buffer.from(`{${batchFields},${this.hashesJson}${COLUMNS_JSON}`);
    const tail = BATCH_TAIL;
    // Each record carries a leading comma; the first one taken drops it.
    const budget = maxBytes - head.length - tail.length + 1;
    let records = 0;
    let bytes = 0;
    let lastChunk = -1;
    let lastEnd = 0;
    for (let k = 0; k < this.chunks.length && records < maxRecords; k++) {
      const c = this.chunks[k];
      const start = c.first > 0 ? c.ends[c.first - 1] : 0;
      let i = c.first;
      if (records + c.count - i <= maxRecords && bytes + c.ends[c.count - 1] - start <= budget) {
        // The whole rest of the chunk fits: no need to look at its records one by one.
        records += c.count - i;
        bytes += c.ends[c.count - 1] - start;
        i = c.count;
      } else {
        for (; i < c.count && records < maxRecords; i++) {
          const size = c.ends[i] - (i > 0 ? c.ends[i - 1] : 0);
          // The first record goes even when it alone passes the bound.
          if (records > 0 && bytes + size > budget) break;
          records++;
          bytes += size;
        }
      }
      if (i > c.first) {
        lastChunk = k;
        lastEnd = i;
      }
      if (i < c.count) break;
    }
    return this.cut(records, bytes, lastChunk, lastEnd, head, tail);
  }

  private cut(
    records: number,
    bytes: number,
    lastChunk: number,
    lastEnd: number,
    head: Buffer,
    tail: Buffer,
  ): TakenRecords {
    const length = head.length + bytes - 1 + tail.length;
    if (this.scratch.length < length) this.scratch = Buffer.allocUnsafe(Math.max(length, 2 * this.scratch.length));
    const json = this.scratch.subarray(0, length);
    let at = head.copy(json, 0);
    for (let k = 0; k <= lastChunk; k++) {
      const c = this.chunks[k];
      const end = k === lastChunk ? lastEnd : c.count;
      const from = (c.first > 0 ? c.ends[c.first - 1] : 0) + (k === 0 ? 1 : 0);
      at += c.buf.copy(json, at, from, c.ends[end - 1]);
      c.first = end;
    }
    tail.copy(json, at);
    this.records -= records;
    this.byteCount -= bytes;
    this.releaseDrained();
    return { records, json };
  }

  private dropOldest(): void {
    const c = this.chunks[0];
    const start = c.first > 0 ? c.ends[c.first - 1] : 0;
    this.byteCount -= c.ends[c.first] - start;
    c.first++;
    this.records--;
    this.dropped++;
    this.releaseDrained();
  }

  /** Recycles the chunks at the front that hold no queued record any more, and forgets the hashes only they used. */
  private releaseDrained(): void {
    let n = 0;
    while (n < this.chunks.length && this.chunks[n].first === this.chunks[n].count) {
      const c = this.chunks[n++];
      if (c.buf.length === CHUNK_BYTES && this.spare.length < SPARE_CHUNKS) {
        c.count = 0;
        c.first = 0;
        c.hashKeys.length = 0;
        this.spare.push(c);
      }
    }
    if (n === 0) return;
    this.chunks.splice(0, n);
    if (this.forgetUnusedHashes()) this.hashesJson = this.policyHashesJson();
  }

  private newChunk(atLeast: number): Chunk {
    if (atLeast <= CHUNK_BYTES) {
      const reused = this.spare.pop();
      if (reused) return reused;
    }
    return {
      buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, atLeast)),
      ends: new Uint32Array(CHUNK_RECORDS),
      count: 0,
      first: 0,
      hashKeys: [],
    };
  }
}
