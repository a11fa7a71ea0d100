/**
 * PostgreSQL report store (pg): one batch = one transaction holding the batch id insert and
 * one `INSERT ... SELECT FROM unnest(arrays)` of all its records (one round trip, no per-row
 * statements). Several masters may share the database: the batch id's primary key makes a
 * concurrent resend of the same batch wait for the first and then insert nothing.
 */
import pg from 'pg';
import type { AccessRecord } from './access-record.js';
import type { IngestResult, ReportFilter, SearchQuery, TimelineBucket, TopQuery } from './query-types.js';
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
  rollupRows,
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
import { joinElements, recordElements, rollupArrays } from './pg-array-literal.js';
import { SCHEMA_POSTGRES } from './schema.js';

type Row = Record<string, unknown>;

const COLUMN_TYPES: Record<(typeof RECORD_COLUMNS)[number], string> = {
  ts: 'bigint',
  slave: 'text',
  client: 'text',
  user_name: 'text',
  method: 'text',
  host: 'text',
  url: 'text',
  status: 'int',
  bytes_up: 'bigint',
  bytes_down: 'bigint',
  duration_ms: 'bigint',
  action: 'text',
  rule: 'text',
  category: 'text',
  policy_id: 'bigint',
};
const INSERT_RECORDS = `INSERT INTO records (${RECORD_COLUMNS.join(', ')}) SELECT * FROM unnest(${RECORD_COLUMNS.map(
  (c, i) => `$${i + 1}::${COLUMN_TYPES[c]}[]`,
).join(', ')})`;

const ROLLUP_TYPES = [
  'bigint',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'bigint',
  'bigint',
  'bigint',
  'bigint',
  'bigint',
];
const UPSERT_ROLLUP = `INSERT INTO records_hourly (${ROLLUP_COLUMNS.join(', ')}) SELECT * FROM unnest(${ROLLUP_TYPES.map(
  (t, i) => `$${i + 1}::${t}[]`,
).join(', ')}) ON CONFLICT (${ROLLUP_KEY}) DO UPDATE SET requests = records_hourly.requests + EXCLUDED.requests,
  bytes_up = records_hourly.bytes_up + EXCLUDED.bytes_up, bytes_down = records_hourly.bytes_down + EXCLUDED.bytes_down,
  first_ts = LEAST(records_hourly.first_ts, EXCLUDED.first_ts), last_ts = GREATEST(records_hourly.last_ts, EXCLUDED.last_ts)`;

/** Records whose array elements are built in one turn of the event loop (~2-4 ms). */
const ARRAY_SLICE_RECORDS = 2000;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Arbitrary constant: the advisory lock that serialises migrations between masters. */
const MIGRATION_LOCK = 0x5afe5_0001;

function numbered(q: Sql): { text: string; values: unknown[] } {
  let n = 0;
  return { text: q.text.replace(/\?/g, () => `$${++n}`), values: q.params };
}

export async function openPostgresReportStore(url: string): Promise<ReportStore> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  // An idle connection dropped by the server must not take the master down; the next query reconnects.
  pool.on('error', () => {});
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    const where = url.replace(/\/\/[^@/]*@/, '//***@');
    throw new Error(`report store: PostgreSQL ${where}: ${(err as Error).message}`, { cause: err });
  }

  const all = async (q: Sql): Promise<Row[]> => (await pool.query(numbered(q))).rows as Row[];

  const policyIds = new Map<string, number>();
  /**
   * Ids for the batch's policy hashes, new ones inserted first in statements of their own: committed
   * at once (a batch that fails later leaves a harmless row), so no id in the cache can vanish, and
   * masters sharing the database agree on every id through the unique hash.
   */
  const learnPolicyIds = async (records: readonly AccessRecord[]): Promise<void> => {
    const missing = new Set<string>();
    let last: string | undefined;
    for (const r of records) {
      const h = r.policyHash;
      if (h === undefined || h === last) continue;
      last = h;
      if (!policyIds.has(h)) missing.add(h);
    }
    if (missing.size === 0) return;
    const hashes = [...missing];
    await pool.query('INSERT INTO policy_hashes (hash) SELECT unnest($1::text[]) ON CONFLICT (hash) DO NOTHING', [
      hashes,
    ]);
    const rows = (await pool.query('SELECT id, hash FROM policy_hashes WHERE hash = ANY($1::text[])', [hashes]))
      .rows as { id: string; hash: string }[];
    for (const row of rows) policyIds.set(row.hash, Number(row.id));
  };
  const policyIdOf = (r: AccessRecord): number | null =>
    r.policyHash === undefined ? null : (policyIds.get(r.policyHash) ?? null);

  /** Why batches are refused, once pauseIngest was called; and the ingests still running. */
  let paused: string | undefined;
  const ingesting = new Set<Promise<IngestResult>>();

  async function ingest(batchId: string, slave: string, records: readonly AccessRecord[]): Promise<IngestResult> {
    // Built before the transaction, in slices with a turn of the event loop between them: the
    // array literals of 10 000 records take 10-40 ms, which would hold every other request.
    await learnPolicyIds(records);
    const slices: string[][] = [];
    for (let i = 0; i < records.length; i += ARRAY_SLICE_RECORDS) {
      if (i > 0) await nextTurn();
      slices.push(recordElements(records, i, Math.min(i + ARRAY_SLICE_RECORDS, records.length), policyIdOf));
    }
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const b = await client.query(
        'INSERT INTO batches (id, slave, received_at, records) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
        [batchId, slave, Date.now(), records.length],
      );
      if (b.rowCount === 0) {
        await client.query('ROLLBACK');
        return { inserted: 0, duplicate: true };
      }
      if (records.length > 0) {
        await client.query(INSERT_RECORDS, joinElements(slices));
        await client.query(UPSERT_ROLLUP, rollupArrays(rollupRows(records)));
      }
      await client.query('COMMIT');
      return { inserted: records.length, duplicate: false };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  return {
    kind: 'postgres',
    ingestBatch(batchId, slave, records) {
      if (paused !== undefined) return Promise.reject(new IngestPausedError(paused));
      const p = ingest(batchId, slave, records);
      ingesting.add(p);
      void p.finally(() => ingesting.delete(p)).catch(() => undefined);
      return p;
    },
    async pauseIngest(reason: string) {
      paused = reason;
      await Promise.allSettled([...ingesting]);
    },
    async summary(f: ReportFilter) {
      return toSummary((await all(summarySql(f, 'postgres')))[0], f);
    },
    async topSites(q: TopQuery) {
      return (await all(topSitesSql(q.filter, q.limit, 'postgres'))).map(toTopSite);
    },
    async topUsers(q: TopQuery) {
      return (await all(topUsersSql(q.filter, q.limit, 'postgres'))).map(toTopUser);
    },
    async blocked(q: TopQuery) {
      return (await all(blockedSql(q.filter, q.limit, 'postgres'))).map(toBlocked);
    },
    async perSlave(f: ReportFilter) {
      return (await all(perSlaveSql(f, 'postgres'))).map(toPerSlave);
    },
    async timeline(f: ReportFilter, bucket: TimelineBucket) {
      return (await all(timelineSql(f, bucket, 'postgres'))).map(toTimeline);
    },
    async categories(f: ReportFilter) {
      return (await all(categoriesSql(f, 'postgres'))).map(toCategory);
    },
    async search(q: SearchQuery) {
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      return searchPage(await all(searchSql(q.filter, q.limit + 1, cursor, 'postgres')), q.limit);
    },
    async purgeOlderThan(cutoff: number, maxRows = DEFAULT_PURGE_CHUNK) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('DELETE FROM batches WHERE id IN (SELECT id FROM batches WHERE received_at < $1 LIMIT $2)', [
          cutoff,
          maxRows,
        ]);
        const newest = (
          await client.query('SELECT max(ts) AS m FROM (SELECT ts FROM records WHERE ts < $1 ORDER BY ts LIMIT $2) c', [
            cutoff,
            maxRows,
          ])
        ).rows[0].m;
        if (newest === null) {
          await client.query('COMMIT');
          return 0;
        }
        const r = await client.query(
          'DELETE FROM records WHERE id IN (SELECT id FROM records WHERE ts < $1 ORDER BY ts LIMIT $2)',
          [cutoff, maxRows],
        );
        // Oldest first: every hour before the newest deleted record is gone from `records`;
        // that record's own hour is rebuilt from what is left of it.
        const hour = Math.floor(Number(newest) / HOUR_MS) * HOUR_MS;
        await client.query('DELETE FROM records_hourly WHERE hour <= $1', [hour]);
        await client.query(numbered({ text: rebuildHourSql().text, params: [hour, hour, hour + HOUR_MS] }));
        await client.query('COMMIT');
        return r.rowCount ?? 0;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async count() {
      return Number((await pool.query('SELECT count(*) AS n FROM records')).rows[0].n);
    },
    async close() {
      await pool.end();
    },
  };
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
    );
    const current = Number(
      (await client.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations')).rows[0].v,
    );
    const latest = SCHEMA_POSTGRES.length;
    if (current > latest) {
      throw new Error(`schema version ${current} is newer than this build knows (${latest}); upgrade the master`);
    }
    for (let v = current + 1; v <= latest; v++) {
      await client.query('BEGIN');
      try {
        await client.query(SCHEMA_POSTGRES[v - 1]);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v, Date.now()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
}
