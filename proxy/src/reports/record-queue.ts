import type { AccessRecord } from './access-record.js';
import { RecordEncoder, type RecordSource } from './record-encoding.js';

/** Records are appended into chunks of this size (a larger one for a record that does not fit). */
const CHUNK_BYTES = 64 * 1024;
/** Ends recorded per chunk: far more than the ~130-byte minimum record allows in CHUNK_BYTES. */
const CHUNK_RECORDS = 1024;
/**
 * Drained chunks kept for reuse (8 MiB: two batches of 10 000 records). A chunk that is freed and
 * allocated anew each time lives long enough to be promoted, and old-generation garbage is what
 * costs major collections.
 */
const SPARE_CHUNKS = 128;

interface Chunk {
  readonly buf: Buffer;
  /** ends[i]: byte offset just past record i. Record i starts at ends[i - 1] (0 for the first). */
  readonly ends: Uint32Array;
  count: number;
  /** Index of the oldest record still queued; the ones before it were taken or dropped. */
  first: number;
}

/** Records taken from the queue as one JSON text: `head`, the records comma-separated, `tail`. */
export interface TakenRecords {
  records: number;
  /** Valid until the next take(): it is the queue's reused scratch buffer. */
  json: Buffer;
}

/**
 * Bounded queue between the proxy (producer) and the report shipper (consumer). Each record is
 * encoded to its JSON text when it is pushed and kept as bytes outside the V8 heap, so a queue
 * of 100 000 records is no work for the garbage collector and a batch is a copy, not a stringify.
 * When full (records or bytes), the oldest records are dropped and counted: the proxy must
 * never block on reporting. The newest record always stays.
 */
export class RecordQueue {
  private readonly encoder = new RecordEncoder();
  private chunks: Chunk[] = [];
  private spare: Chunk[] = [];
  /** Where take() assembles a batch; reused, for the same reason chunks are. */
  private scratch = Buffer.alloc(0);
  private records = 0;
  private byteCount = 0;
  dropped = 0;

  constructor(
    readonly capacity = 100_000,
    /** Bytes of record JSON held at most (about 300 bytes a record). */
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
    this.record(record, record.slave, record.durationMs);
  }

  /** Queues the record of a finished request without building an AccessRecord object. */
  record(source: RecordSource, slave: string, durationMs: number): void {
    const text = this.encoder.encode(source, slave, durationMs);
    // UTF-8 takes at most 3 bytes per UTF-16 unit (the encoder leaves no lone surrogates).
    const worst = text.length * 3;
    let c = this.chunks[this.chunks.length - 1];
    const used = c && c.count > 0 ? c.ends[c.count - 1] : 0;
    if (!c || c.count === CHUNK_RECORDS || c.buf.length - used < worst) {
      c = this.newChunk(worst);
      this.chunks.push(c);
    }
    const start = c.count > 0 ? c.ends[c.count - 1] : 0;
    const end = start + c.buf.write(text, start);
    c.ends[c.count++] = end;
    this.records++;
    this.byteCount += end - start;
    while ((this.records > this.capacity || this.byteCount > this.maxBytes) && this.records > 1) this.dropOldest();
  }

  /**
   * Removes up to `maxRecords` records, oldest first, as one JSON text `head` + records + `tail`
   * of at most `maxBytes` (but always at least one record, however long). Undefined when empty
   * (or asked for none).
   * The JSON is valid until the next take(): use it (or copy it) first.
   */
  take(maxRecords: number, maxBytes: number, head: Buffer, tail: Buffer): TakenRecords | undefined {
    if (this.records === 0 || maxRecords < 1) return undefined;
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

  /** Removes and returns up to `max` records, oldest first, as objects (for tests and tools; the shipper uses take()). */
  drain(max: number): AccessRecord[] {
    const taken = this.take(max, Number.MAX_SAFE_INTEGER, OPEN_ARRAY, CLOSE_ARRAY);
    return taken ? (JSON.parse(taken.json.toString('utf8')) as AccessRecord[]) : [];
  }

  private cut(records: number, bytes: number, lastChunk: number, lastEnd: number, head: Buffer, tail: Buffer): TakenRecords {
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

  /** Recycles the chunks at the front that hold no queued record any more. */
  private releaseDrained(): void {
    let n = 0;
    while (n < this.chunks.length && this.chunks[n].first === this.chunks[n].count) {
      const c = this.chunks[n++];
      if (c.buf.length === CHUNK_BYTES && this.spare.length < SPARE_CHUNKS) {
        c.count = 0;
        c.first = 0;
        this.spare.push(c);
      }
    }
    if (n > 0) this.chunks.splice(0, n);
  }

  private newChunk(atLeast: number): Chunk {
    if (atLeast <= CHUNK_BYTES) {
      const reused = this.spare.pop();
      if (reused) return reused;
    }
    return { buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, atLeast)), ends: new Uint32Array(CHUNK_RECORDS), count: 0, first: 0 };
  }
}

const OPEN_ARRAY = Buffer.from('[');
const CLOSE_ARRAY = Buffer.from(']');
