/**
 * SQLite report store (better-sqlite3): WAL so queries read while a batch is written,
 * synchronous=NORMAL (durable across process crashes; a power loss may lose the last
 * transactions, which slaves then resend: they delete a batch only after our ack, and a
 * lost ack means a resend, and the batch id makes that harmless).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AccessRecord } from './access-record.js';
import type { IngestResult, ReportFilter, TimelineBucket, TopQuery, SearchQuery } from './query-types.js';
import {
  blockedSql,
  categoriesSql,
  decodeCursor,
  HOUR_MS,
  perSlaveSql,
  rebuildHourSql,
  RECORD_COLUMNS,
  ROLLUP_COLUMNS,
  ROLLUP_KEY,
  searchSql,
  summarySql,
  timelineSql,
  topSitesSql,
  topUsersSql,
  type Sql,
} from './report-sql.js';
import {
  recordValues,
  RollupAccumulator,
  writeRecordValues,
  searchPage,
  toBlocked,
  toCategory,
  toPerSlave,
  toSummary,
  toTimeline,
  toTopSite,
  toTopUser,
} from './store-rows.js';
import { DEFAULT_PURGE_CHUNK, IngestPausedError, type ReportStore } from './store.js';
import { SCHEMA_SQLITE } from './schema.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SqliteReaders } from './sqlite-readers.js';
import { snapshotSqlite } from '../backup/sqlite-snapshot.js';

type Row = Record<string, unknown>;

interface PendingBatch {
  batchId: string;
  slave: string;
  records: readonly AccessRecord[];
  resolve(result: IngestResult): void;
  reject(err: Error): void;
}

/** Rows per INSERT statement: fewer statement executions, well under SQLite's 32766 variables. */
const ROWS_PER_INSERT = 64;
/** Longest the writer keeps the event loop at a time, ms. */
const SLICE_MS = 4;
/**
 * Batches that arrive while a transaction is open join it up to this many records. The COMMIT
 * (writing the dirtied pages to the WAL) cannot be sliced: ~1 ms per 1 000 records here.
 */
const MAX_GROUP_RECORDS = 20_000;
/** Groups smaller than this wait LINGER_TURNS turns of the event loop for more batches before they commit. */
const LINGER_BELOW_RECORDS = 5_000;
const LINGER_TURNS = 2;
/** Records added to the rollup between looks at the clock. */
const ROLLUP_SLICE = 1000;

/**
 * WAL frames (pages) between checkpoints: 48 MiB. Fewer checkpoints copy an index page dirtied
 * by many batches back once, not once per checkpoint (4 MiB -> 64 MiB between checkpoints was
 * ~20 % less ingestion CPU in bench/reports). The store counts records, not frames: each
 * checkpoint says how many frames the records since the previous one took.
 */
const CHECKPOINT_WAL_FRAMES = 12_288;
/** Records before the first checkpoint, until one has measured the frames per record. */
const FIRST_CHECKPOINT_RECORDS = 20_000;
/** SQLite's own checkpoint on the writer, inside a COMMIT: a safety net at 256 MiB of WAL. */
const WRITER_AUTOCHECKPOINT_PAGES = 65_536;
/** ... and the 64 MiB it checkpoints at should the worker fail. */
const FALLBACK_AUTOCHECKPOINT_PAGES = 16_384;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function openSqliteReportStore(path: string): ReportStore {
  return new SqliteReportStore(path);
}

/**
 * Caches the row id of each policy hash seen: a batch's records share one hash string, so most
 * lookups end at the last one. Cleared when a transaction that may have added a hash rolls back.
 */
class PolicyIds {
  private readonly ids = new Map<string, number>();
  private lastHash: string | undefined;
  private lastId: number | null = null;
  private readonly insert: Database.Statement;
  private readonly select: Database.Statement<[string], number>;

  constructor(db: Database.Database) {
    this.insert = db.prepare('INSERT OR IGNORE INTO policy_hashes (hash) VALUES (?)');
    this.select = db.prepare<[string], number>('SELECT id FROM policy_hashes WHERE hash = ?').pluck();
  }

  idOf(hash: string | undefined): number | null {
    if (hash === undefined) return null;
    if (hash === this.lastHash) return this.lastId;
    let id = this.ids.get(hash);
    if (id === undefined) {
      this.insert.run(hash);
      id = this.select.get(hash) as number;
      this.ids.set(hash, id);
    }
    this.lastHash = hash;
    this.lastId = id;
    return id;
  }

  /** A hash first inserted in a rolled-back transaction is gone with it. */
  forget(): void {
    this.ids.clear();
    this.lastHash = undefined;
  }
}

/** The prepared statements of the writer connection. */
class WriterStatements {
  readonly insertMany: Database.Statement;
  readonly insertOne: Database.Statement;
  readonly upsertRollup: Database.Statement;
  readonly insertBatch: Database.Statement;
  readonly begin: Database.Statement;
  readonly commit: Database.Statement;
  readonly rollback: Database.Statement;
  readonly purgeRecords: Database.Statement;
  readonly purgeBatches: Database.Statement;
  readonly newestInChunk: Database.Statement;
  readonly dropRollupThrough: Database.Statement;
  readonly rebuildHour: Database.Statement;
  readonly countRecords: Database.Statement;

  constructor(db: Database.Database) {
    const cols = RECORD_COLUMNS.join(', ');
    const rowPh = `(${RECORD_COLUMNS.map(() => '?').join(', ')})`;
    // OR FAIL: a constraint failure fails the whole transaction anyway (rolled back, every batch in
    // it refused), so a statement need not undo its own earlier rows, and SQLite then keeps no
    // statement journal (a copy of every page the statement touches): 4.1 -> 3.4 us per record.
    this.insertMany = db.prepare(
      `INSERT OR FAIL INTO records (${cols}) VALUES ${Array(ROWS_PER_INSERT).fill(rowPh).join(', ')}`,
    );
    this.insertOne = db.prepare(`INSERT OR FAIL INTO records (${cols}) VALUES ${rowPh}`);
    this.upsertRollup = db.prepare(
      `INSERT INTO records_hourly (${ROLLUP_COLUMNS.join(', ')}) VALUES (${ROLLUP_COLUMNS.map(() => '?').join(', ')})
     ON CONFLICT (${ROLLUP_KEY}) DO UPDATE SET requests = requests + excluded.requests,
       bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down,
       first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)`,
    );
    this.insertBatch = db.prepare(
      'INSERT OR IGNORE INTO batches (id, slave, received_at, records) VALUES (?, ?, ?, ?)',
    );
    this.begin = db.prepare('BEGIN');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.purgeRecords = db.prepare(
      'DELETE FROM records WHERE id IN (SELECT id FROM records WHERE ts < ? ORDER BY ts LIMIT ?)',
    );
    this.purgeBatches = db.prepare(
      'DELETE FROM batches WHERE id IN (SELECT id FROM batches WHERE received_at < ? LIMIT ?)',
    );
    this.newestInChunk = db.prepare(
      'SELECT max(ts) AS m FROM (SELECT ts FROM records WHERE ts < ? ORDER BY ts LIMIT ?)',
    );
    this.dropRollupThrough = db.prepare('DELETE FROM records_hourly WHERE hour <= ?');
    this.rebuildHour = db.prepare(rebuildHourSql().text);
    this.countRecords = db.prepare('SELECT count(*) AS n FROM records');
  }
}

export class SqliteReportStore implements ReportStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly st: WriterStatements;
  private readonly policyIds: PolicyIds;
  /** The values of one multi-row INSERT, refilled for each. */
  private readonly manyValues = new Array<string | number | null>(ROWS_PER_INSERT * RECORD_COLUMNS.length);
  /** Batches waiting for the writer. */
  private readonly queue: PendingBatch[] = [];
  /** Synchronous jobs to run between two transactions (betweenTransactions). */
  private readonly betweenJobs: (() => void)[] = [];
  /** The running drain, while the writer works. */
  private writing: Promise<void> | undefined;
  private checkpointer: SqliteCheckpointer | undefined;
  private sinceCheckpoint = 0;
  private checkpointAfter = FIRST_CHECKPOINT_RECORDS;
  /** In-memory databases cannot be shared with reader threads; they are for tests and tools. */
  private readonly readers: SqliteReaders | undefined;
  private closed = false;
  /** Why batches are refused, once pauseIngest was called. */
  private paused: string | undefined;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path);
    } catch (err) {
      throw new Error(`report store: cannot open SQLite database ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const db = this.db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache keeps the upper levels of the five indexes hot while ingesting.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    // Checkpoints run in a worker thread between transactions (CHECKPOINT_WAL_FRAMES); the
    // automatic one, inside a COMMIT on the event loop, is a safety net.
    db.pragma(
      `wal_autocheckpoint = ${path === ':memory:' ? FALLBACK_AUTOCHECKPOINT_PAGES : WRITER_AUTOCHECKPOINT_PAGES}`,
    );
    db.pragma('journal_size_limit = 67108864');
    migrate(db, path);
    this.checkpointer = path === ':memory:' ? undefined : new SqliteCheckpointer(path);
    this.st = new WriterStatements(db);
    this.policyIds = new PolicyIds(db);
    this.readers = path === ':memory:' ? undefined : new SqliteReaders(path);
  }

  ingestBatch(batchId: string, slave: string, records: readonly AccessRecord[]): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new Error(`report store ${this.path} is closed`));
    if (this.paused !== undefined) return Promise.reject(new IngestPausedError(this.paused));
    return new Promise<IngestResult>((resolve, reject) => {
      this.queue.push({ batchId, slave, records, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  async summary(f: ReportFilter) {
    return toSummary((await this.all(summarySql(f, 'sqlite')))[0], f);
  }
  async topSites(q: TopQuery) {
    return (await this.all(topSitesSql(q.filter, q.limit, 'sqlite'))).map(toTopSite);
  }
  async topUsers(q: TopQuery) {
    return (await this.all(topUsersSql(q.filter, q.limit, 'sqlite'))).map(toTopUser);
  }
  async blocked(q: TopQuery) {
    return (await this.all(blockedSql(q.filter, q.limit, 'sqlite'))).map(toBlocked);
  }
  async perSlave(f: ReportFilter) {
    return (await this.all(perSlaveSql(f, 'sqlite'))).map(toPerSlave);
  }
  async timeline(f: ReportFilter, bucket: TimelineBucket) {
    return (await this.all(timelineSql(f, bucket, 'sqlite'))).map(toTimeline);
  }
  async categories(f: ReportFilter) {
    return (await this.all(categoriesSql(f, 'sqlite'))).map(toCategory);
  }
  async search(q: SearchQuery) {
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    return searchPage(await this.all(searchSql(q.filter, q.limit + 1, cursor, 'sqlite')), q.limit);
  }

  async purgeOlderThan(cutoff: number, maxRows = DEFAULT_PURGE_CHUNK) {
    const st = this.st;
    return this.betweenTransactions(
      this.db.transaction(() => {
        st.purgeBatches.run(cutoff, maxRows);
        const newest = (st.newestInChunk.get(cutoff, maxRows) as Row).m;
        if (newest === null) return 0;
        const deleted = st.purgeRecords.run(cutoff, maxRows).changes;
        // Oldest first: every hour before the newest deleted record is gone from `records`;
        // that record's own hour is rebuilt from what is left of it.
        const hour = Math.floor(Number(newest) / HOUR_MS) * HOUR_MS;
        st.dropRollupThrough.run(hour);
        st.rebuildHour.run(hour, hour, hour + HOUR_MS);
        return deleted;
      }),
    );
  }

  async count() {
    return this.betweenTransactions(() => Number((this.st.countRecords.get() as Row).n));
  }

  async pauseIngest(reason: string) {
    this.paused = reason;
    await this.idle();
  }

  async backupTo(file: string) {
    if (this.path === ':memory:') throw new Error('an in-memory report store cannot be backed up');
    if (this.closed) throw new Error(`report store ${this.path} is closed`);
    const { counts } = await snapshotSqlite(this.path, file, {
      records: 'SELECT count(*) FROM records',
      batches: 'SELECT count(*) FROM batches',
    });
    return { records: counts.records, batches: counts.batches };
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    // Batches already accepted are written, not dropped.
    await this.idle();
    await this.readers?.close();
    await this.checkpointer?.close();
    // Lets SQLite refresh planner statistics for the indexes the queries used.
    this.db.pragma('optimize');
    this.db.close();
  }

  private all(q: Sql): Promise<Row[]> {
    return this.readers
      ? this.readers.all(q.text, q.params)
      : Promise.resolve(this.db.prepare(q.text).all(...q.params) as Row[]);
  }

  // Group commit: batches that arrive while a transaction is open (several slaves posting at
  // once) join it, up to MAX_GROUP_RECORDS. A commit writes every page the transaction dirtied
  // to the WAL and walks the page cache; shared, those costs are paid once. The transaction is
  // written in slices of SLICE_MS with a turn of the event loop between them: a 10 000-record
  // batch takes ~70 ms of SQLite work, which would otherwise hold every other request (probes,
  // the UI, long-polls) that long. Each caller hears back only after the commit that holds its
  // batch; a batch is never split across transactions; a rollback fails every batch in it.
  private async writeGroup(group: PendingBatch[], results: IngestResult[]): Promise<void> {
    const { st, queue, manyValues, policyIds } = this;
    const rollup = new RollupAccumulator();
    let records = 0;
    let sliceEnd = performance.now() + SLICE_MS;
    const nextSlice = async () => {
      await nextTurn();
      sliceEnd = performance.now() + SLICE_MS;
    };
    const now = Date.now();
    const writeQueued = async () => {
      while (queue.length > 0 && records < MAX_GROUP_RECORDS) {
        const b = queue.shift() as PendingBatch;
        group.push(b);
        if (st.insertBatch.run(b.batchId, b.slave, now, b.records.length).changes === 0) {
          results.push({ inserted: 0, duplicate: true });
          continue;
        }
        const batch = b.records;
        let i = 0;
        for (; i + ROWS_PER_INSERT <= batch.length; i += ROWS_PER_INSERT) {
          for (let j = 0; j < ROWS_PER_INSERT; j++) {
            const r = batch[i + j];
            writeRecordValues(r, policyIds.idOf(r.policyHash), manyValues, j * RECORD_COLUMNS.length);
          }
          // As arguments, not one array: better-sqlite3 then reads each value without an object lookup.
          st.insertMany.run(...manyValues);
          if (performance.now() >= sliceEnd) await nextSlice();
        }
        for (; i < batch.length; i++) st.insertOne.run(...recordValues(batch[i], policyIds.idOf(batch[i].policyHash)));
        for (let k = 0; k < batch.length; k += ROLLUP_SLICE) {
          rollup.add(batch, k, Math.min(k + ROLLUP_SLICE, batch.length));
          if (performance.now() >= sliceEnd) await nextSlice();
        }
        records += batch.length;
        results.push({ inserted: batch.length, duplicate: false });
      }
    };
    await writeQueued();
    // A small group waits two turns for more batches to share its commit (a batch whose body
    // arrives meanwhile is decoded in the first): 10.1 -> 9.5 us/record with batches of 500.
    for (let turn = 0; turn < LINGER_TURNS && records < LINGER_BELOW_RECORDS; turn++) {
      await nextSlice();
      await writeQueued();
    }
    // One upsert per key of the whole group; SQLite has one writer, so no lock order to keep.
    const rows = rollup.rows();
    for (let i = 0; i < rows.length; i++) {
      st.upsertRollup.run(rows[i]);
      if ((i & 63) === 63 && performance.now() >= sliceEnd) await nextSlice();
    }
  }

  private async drain(): Promise<void> {
    const { st, queue, betweenJobs } = this;
    try {
      // Batches posted in the same turn start the same transaction.
      await nextTurn();
      while (queue.length > 0 || betweenJobs.length > 0) {
        for (const job of betweenJobs.splice(0)) job();
        if (queue.length === 0) continue;
        if (this.checkpointer && this.sinceCheckpoint >= this.checkpointAfter) await this.checkpoint(this.checkpointer);
        const group: PendingBatch[] = [];
        const results: IngestResult[] = [];
        try {
          st.begin.run();
          await this.writeGroup(group, results);
          st.commit.run();
        } catch (err) {
          // A hash first inserted in this transaction is gone with it.
          this.policyIds.forget();
          try {
            if (this.db.inTransaction) st.rollback.run();
          } finally {
            for (const b of group) b.reject(err as Error);
          }
          continue;
        }
        for (const r of results) this.sinceCheckpoint += r.inserted;
        group.forEach((b, i) => b.resolve(results[i]));
      }
    } finally {
      // Synchronously after the last look at the queue: a batch queued from here on starts a new drain.
      this.writing = undefined;
    }
  }

  // Between transactions, with writes held back meanwhile: with no frames appended during the
  // checkpoint it copies the whole WAL, and the next transaction starts the WAL file over.
  private async checkpoint(c: SqliteCheckpointer): Promise<void> {
    const records = this.sinceCheckpoint;
    this.sinceCheckpoint = 0;
    try {
      const { walFrames } = await c.run();
      // At most twice as far each time: a growing database dirties more pages per record.
      if (walFrames > 0)
        this.checkpointAfter = Math.max(
          1000,
          Math.min(2 * records, Math.round((records * CHECKPOINT_WAL_FRAMES) / walFrames)),
        );
    } catch {
      // SQLite checkpoints by itself again, on this thread, as it would without the worker.
      this.checkpointer = undefined;
      this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      await c.close();
    }
  }

  /** Resolves once no transaction is open and nothing waits to be written. */
  private async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /**
   * Runs `job` (synchronous) on the writer between two transactions: never inside one that is
   * between slices, and without waiting for the writer to be idle, which it may never be while
   * slaves keep posting.
   */
  private betweenTransactions<T>(job: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`report store ${this.path} is closed`));
    return new Promise<T>((resolve, reject) => {
      this.betweenJobs.push(() => {
        try {
          resolve(job());
        } catch (err) {
          reject(err as Error);
        }
      });
      this.writing ??= this.drain();
    });
  }
}

function migrate(db: Database.Database, path: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const current = Number((db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get() as Row).v);
  const latest = SCHEMA_SQLITE.length;
  if (current > latest) {
    throw new Error(
      `report store ${path}: schema version ${current} is newer than this build knows (${latest}); upgrade the master`,
    );
  }
  for (let v = current + 1; v <= latest; v++) {
    db.transaction(() => {
      db.exec(SCHEMA_SQLITE[v - 1]);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(v, Date.now());
    })();
  }
}
