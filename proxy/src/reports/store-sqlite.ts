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
import { DEFAULT_PURGE_CHUNK, type ReportStore } from './store.js';
import { SCHEMA_SQLITE } from './schema.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SqliteReaders } from './sqlite-readers.js';

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
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new Error(`report store: cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
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
  let checkpointer = path === ':memory:' ? undefined : new SqliteCheckpointer(path);
  let sinceCheckpoint = 0;
  let checkpointAfter = FIRST_CHECKPOINT_RECORDS;

  const cols = RECORD_COLUMNS.join(', ');
  const rowPh = `(${RECORD_COLUMNS.map(() => '?').join(', ')})`;
  // OR FAIL: a constraint failure fails the whole transaction anyway (rolled back, every batch in
  // it refused), so a statement need not undo its own earlier rows, and SQLite then keeps no
  // statement journal (a copy of every page the statement touches): 4.1 -> 3.4 us per record.
  const insertMany = db.prepare(
    `INSERT OR FAIL INTO records (${cols}) VALUES ${Array(ROWS_PER_INSERT).fill(rowPh).join(', ')}`,
  );
  const insertOne = db.prepare(`INSERT OR FAIL INTO records (${cols}) VALUES ${rowPh}`);
  /** The values of one multi-row INSERT, refilled for each. */
  const manyValues = new Array<string | number | null>(ROWS_PER_INSERT * RECORD_COLUMNS.length);
  const upsertRollup = db.prepare(
    `INSERT INTO records_hourly (${ROLLUP_COLUMNS.join(', ')}) VALUES (${ROLLUP_COLUMNS.map(() => '?').join(', ')})
     ON CONFLICT (${ROLLUP_KEY}) DO UPDATE SET requests = requests + excluded.requests,
       bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down,
       first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)`,
  );
  const insertBatch = db.prepare('INSERT OR IGNORE INTO batches (id, slave, received_at, records) VALUES (?, ?, ?, ?)');
  const insertPolicy = db.prepare('INSERT OR IGNORE INTO policy_hashes (hash) VALUES (?)');
  const selectPolicy = db.prepare<[string], number>('SELECT id FROM policy_hashes WHERE hash = ?').pluck();
  /** Ids of the policy hashes seen; cleared when a transaction that may have added one rolls back. */
  const policyIds = new Map<string, number>();
  let lastHash: string | undefined;
  let lastPolicyId: number | null = null;
  const policyIdOf = (hash: string | undefined): number | null => {
    if (hash === undefined) return null;
    // A batch's records share one hash string: most lookups end here.
    if (hash === lastHash) return lastPolicyId;
    let id = policyIds.get(hash);
    if (id === undefined) {
      insertPolicy.run(hash);
      id = selectPolicy.get(hash) as number;
      policyIds.set(hash, id);
    }
    lastHash = hash;
    lastPolicyId = id;
    return id;
  };
  const forgetPolicyIds = () => {
    policyIds.clear();
    lastHash = undefined;
  };

  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');

  // Group commit: batches that arrive while a transaction is open (several slaves posting at
  // once) join it, up to MAX_GROUP_RECORDS. A commit writes every page the transaction dirtied
  // to the WAL and walks the page cache; shared, those costs are paid once. The transaction is
  // written in slices of SLICE_MS with a turn of the event loop between them: a 10 000-record
  // batch takes ~70 ms of SQLite work, which would otherwise hold every other request (probes,
  // the UI, long-polls) that long. Each caller hears back only after the commit that holds its
  // batch; a batch is never split across transactions; a rollback fails every batch in it.
  const queue: PendingBatch[] = [];
  let writing: Promise<void> | undefined;

  async function writeGroup(group: PendingBatch[], results: IngestResult[]): Promise<void> {
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
        if (insertBatch.run(b.batchId, b.slave, now, b.records.length).changes === 0) {
          results.push({ inserted: 0, duplicate: true });
          continue;
        }
        const batch = b.records;
        let i = 0;
        for (; i + ROWS_PER_INSERT <= batch.length; i += ROWS_PER_INSERT) {
          for (let j = 0; j < ROWS_PER_INSERT; j++) {
            const r = batch[i + j];
            writeRecordValues(r, policyIdOf(r.policyHash), manyValues, j * RECORD_COLUMNS.length);
          }
          // As arguments, not one array: better-sqlite3 then reads each value without an object lookup.
          insertMany.run(...manyValues);
          if (performance.now() >= sliceEnd) await nextSlice();
        }
        for (; i < batch.length; i++) insertOne.run(...recordValues(batch[i], policyIdOf(batch[i].policyHash)));
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
      upsertRollup.run(rows[i]);
      if ((i & 63) === 63 && performance.now() >= sliceEnd) await nextSlice();
    }
  }

  async function drain(): Promise<void> {
    try {
      // Batches posted in the same turn start the same transaction.
      await nextTurn();
      while (queue.length > 0 || betweenJobs.length > 0) {
        for (const job of betweenJobs.splice(0)) job();
        if (queue.length === 0) continue;
        if (checkpointer && sinceCheckpoint >= checkpointAfter) await checkpoint(checkpointer);
        const group: PendingBatch[] = [];
        const results: IngestResult[] = [];
        try {
          begin.run();
          await writeGroup(group, results);
          commit.run();
        } catch (err) {
          // A hash first inserted in this transaction is gone with it.
          forgetPolicyIds();
          try {
            if (db.inTransaction) rollback.run();
          } finally {
            for (const b of group) b.reject(err as Error);
          }
          continue;
        }
        for (const r of results) sinceCheckpoint += r.inserted;
        group.forEach((b, i) => b.resolve(results[i]));
      }
    } finally {
      // Synchronously after the last look at the queue: a batch queued from here on starts a new drain.
      writing = undefined;
    }
  }

  // Between transactions, with writes held back meanwhile: with no frames appended during the
  // checkpoint it copies the whole WAL, and the next transaction starts the WAL file over.
  async function checkpoint(c: SqliteCheckpointer): Promise<void> {
    const records = sinceCheckpoint;
    sinceCheckpoint = 0;
    try {
      const { walFrames } = await c.run();
      // At most twice as far each time: a growing database dirties more pages per record.
      if (walFrames > 0)
        checkpointAfter = Math.max(
          1000,
          Math.min(2 * records, Math.round((records * CHECKPOINT_WAL_FRAMES) / walFrames)),
        );
    } catch {
      // SQLite checkpoints by itself again, on this thread, as it would without the worker.
      checkpointer = undefined;
      db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      await c.close();
    }
  }

  /** Resolves once no transaction is open and nothing waits to be written. */
  const idle = async () => {
    while (writing) await writing;
  };

  /**
   * Runs `job` (synchronous) on the writer between two transactions: never inside one that is
   * between slices, and without waiting for the writer to be idle, which it may never be while
   * slaves keep posting.
   */
  const betweenJobs: (() => void)[] = [];
  function betweenTransactions<T>(job: () => T): Promise<T> {
    if (closed) return Promise.reject(new Error(`report store ${path} is closed`));
    return new Promise<T>((resolve, reject) => {
      betweenJobs.push(() => {
        try {
          resolve(job());
        } catch (err) {
          reject(err as Error);
        }
      });
      writing ??= drain();
    });
  }

  const purgeRecords = db.prepare(
    'DELETE FROM records WHERE id IN (SELECT id FROM records WHERE ts < ? ORDER BY ts LIMIT ?)',
  );
  const purgeBatches = db.prepare(
    'DELETE FROM batches WHERE id IN (SELECT id FROM batches WHERE received_at < ? LIMIT ?)',
  );
  const newestInChunk = db.prepare(
    'SELECT max(ts) AS m FROM (SELECT ts FROM records WHERE ts < ? ORDER BY ts LIMIT ?)',
  );
  const dropRollupThrough = db.prepare('DELETE FROM records_hourly WHERE hour <= ?');
  const rebuildHour = db.prepare(rebuildHourSql().text);
  const countRecords = db.prepare('SELECT count(*) AS n FROM records');

  // In-memory databases cannot be shared with reader threads; they are for tests and tools.
  const readers = path === ':memory:' ? undefined : new SqliteReaders(path);
  const all = async (q: Sql): Promise<Row[]> =>
    readers ? readers.all(q.text, q.params) : (db.prepare(q.text).all(...q.params) as Row[]);
  let closed = false;

  return {
    kind: 'sqlite',
    ingestBatch(batchId, slave, records) {
      if (closed) return Promise.reject(new Error(`report store ${path} is closed`));
      return new Promise<IngestResult>((resolve, reject) => {
        queue.push({ batchId, slave, records, resolve, reject });
        writing ??= drain();
      });
    },
    async summary(f: ReportFilter) {
      return toSummary((await all(summarySql(f, 'sqlite')))[0], f);
    },
    async topSites(q: TopQuery) {
      return (await all(topSitesSql(q.filter, q.limit, 'sqlite'))).map(toTopSite);
    },
    async topUsers(q: TopQuery) {
      return (await all(topUsersSql(q.filter, q.limit, 'sqlite'))).map(toTopUser);
    },
    async blocked(q: TopQuery) {
      return (await all(blockedSql(q.filter, q.limit, 'sqlite'))).map(toBlocked);
    },
    async perSlave(f: ReportFilter) {
      return (await all(perSlaveSql(f, 'sqlite'))).map(toPerSlave);
    },
    async timeline(f: ReportFilter, bucket: TimelineBucket) {
      return (await all(timelineSql(f, bucket, 'sqlite'))).map(toTimeline);
    },
    async categories(f: ReportFilter) {
      return (await all(categoriesSql(f, 'sqlite'))).map(toCategory);
    },
    async search(q: SearchQuery) {
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      return searchPage(await all(searchSql(q.filter, q.limit + 1, cursor, 'sqlite')), q.limit);
    },
    async purgeOlderThan(cutoff: number, maxRows = DEFAULT_PURGE_CHUNK) {
      return betweenTransactions(
        db.transaction(() => {
          purgeBatches.run(cutoff, maxRows);
          const newest = (newestInChunk.get(cutoff, maxRows) as Row).m;
          if (newest === null) return 0;
          const deleted = purgeRecords.run(cutoff, maxRows).changes;
          // Oldest first: every hour before the newest deleted record is gone from `records`;
          // that record's own hour is rebuilt from what is left of it.
          const hour = Math.floor(Number(newest) / HOUR_MS) * HOUR_MS;
          dropRollupThrough.run(hour);
          rebuildHour.run(hour, hour, hour + HOUR_MS);
          return deleted;
        }),
      );
    },
    async count() {
      return betweenTransactions(() => Number((countRecords.get() as Row).n));
    },
    async close() {
      if (closed) return;
      closed = true;
      // Batches already accepted are written, not dropped.
      await idle();
      await readers?.close();
      await checkpointer?.close();
      // Lets SQLite refresh planner statistics for the indexes the queries used.
      db.pragma('optimize');
      db.close();
    },
  };
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
