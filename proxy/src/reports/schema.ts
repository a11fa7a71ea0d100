/**
 * Versioned schema of the report store: entry N is migration N (1-based). Append, never edit
 * an entry that has shipped; each store records the versions it applied in `schema_migrations`.
 *
 * Why each index exists (every report is bounded by a time window, so each index ends in ts):
 * - records_ts: the time window itself: summary, timeline, per-slave, top-*, categories with
 *   no other filter; search newest-first (with id, the keyset order); retention purges oldest first.
 * - records_user_ts: "what did this user do" (top sites / search filtered by user).
 * - records_host_ts: "who went to this site" (top users / search filtered by host).
 * - records_action_ts: the blocked-requests report reads only denials, a small share of the table.
 * - records_slave_ts: per-slave drill-down and search by slave. Slaves come and go (an HPA scales
 *   them): a search for one that served a few hours of a 30-day window would otherwise walk every
 *   record of the window in records_ts. Its B-tree insert is ~7 % of the master's SQLite
 *   ingestion CPU, which ingestion can spare.
 * - batches_received_at: retention forgets old batch ids without scanning the id index.
 *
 * Migration 3 makes two of them partial: records_user_ts leaves out unauthenticated requests
 * (user_name NULL; no report filters on it, and without proxy authentication that is every record),
 * records_action_ts leaves out `allow` (the bulk of traffic; a search for allowed requests walks
 * records_ts instead). Each index entry is a B-tree insert per ingested record: ~8 % of the
 * master's ingestion CPU on the bench records.
 *
 * records_hourly (migration 2): one row per hour, slave, host, user, action, category and rule
 * with the sums the aggregates need, kept in the ingest transaction. Reports over whole hours
 * read it instead of every record: real traffic repeats (a page view is tens of requests by one
 * user to one host), so it holds far fewer rows. Its primary key starts with the hour: windows.
 */

/**
 * Migration 4: records name their policy by a small id into `policy_hashes` instead of carrying the
 * 71-character hash itself: a policy changes a few times a day while every request is a record, and
 * the hash was about a third of a record's stored bytes (~1 µs of the master's SQLite CPU per record,
 * and ~70 bytes of every row in the table, the WAL and the checkpoint). Rows stored before keep
 * their `policy_hash`; reads take whichever of the two a row has.
 */
const POLICY_IDS_SQLITE = `
  CREATE TABLE policy_hashes (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE);
  ALTER TABLE records ADD COLUMN policy_id INTEGER;
`;
const POLICY_IDS_POSTGRES = `
  CREATE TABLE policy_hashes (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, hash TEXT NOT NULL UNIQUE);
  ALTER TABLE records ADD COLUMN policy_id BIGINT;
`;

/**
 * The queries say `action <> 'allow'` beside `action = ?` (report-sql.ts) so that SQLite, which does
 * not reason about parameter values, sees that the partial index holds every row they want.
 */
const PARTIAL_INDEXES = `
  DROP INDEX records_user_ts;
  CREATE INDEX records_user_ts ON records (user_name, ts) WHERE user_name IS NOT NULL;
  DROP INDEX records_action_ts;
  CREATE INDEX records_action_ts ON records (action, ts) WHERE action <> 'allow';
`;

/** Fills the rollup from the records a database already holds when migration 2 runs. */
const BACKFILL_ROLLUP = `INSERT INTO records_hourly
    (hour, slave, host, user_name, action, category, rule, requests, bytes_up, bytes_down, first_ts, last_ts)
  SELECT (ts / 3600000) * 3600000, slave, host, coalesce(user_name, ''), action, coalesce(category, ''),
    coalesce(rule, ''), count(*), sum(bytes_up), sum(bytes_down), min(ts), max(ts)
  FROM records GROUP BY 1, 2, 3, 4, 5, 6, 7;`;

export const SCHEMA_SQLITE: readonly string[] = [
  `
  CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    slave TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    records INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX batches_received_at ON batches (received_at);
  CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    slave TEXT NOT NULL,
    client TEXT NOT NULL,
    user_name TEXT,
    method TEXT NOT NULL,
    host TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER NOT NULL,
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    rule TEXT,
    category TEXT,
    policy_hash TEXT
  );
  -- In SQLite every index carries the rowid (id), so (ts) is already the (ts, id) keyset order.
  CREATE INDEX records_ts ON records (ts);
  CREATE INDEX records_user_ts ON records (user_name, ts);
  CREATE INDEX records_host_ts ON records (host, ts);
  CREATE INDEX records_action_ts ON records (action, ts);
  CREATE INDEX records_slave_ts ON records (slave, ts);
  `,
  `
  CREATE TABLE records_hourly (
    hour INTEGER NOT NULL,
    slave TEXT NOT NULL,
    host TEXT NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    category TEXT NOT NULL,
    rule TEXT NOT NULL,
    requests INTEGER NOT NULL,
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    PRIMARY KEY (hour, slave, host, user_name, action, category, rule)
  ) WITHOUT ROWID;
  ${BACKFILL_ROLLUP}
  `,
  PARTIAL_INDEXES,
  POLICY_IDS_SQLITE,
];

export const SCHEMA_POSTGRES: readonly string[] = [
  `
  CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    slave TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    records INTEGER NOT NULL
  );
  CREATE INDEX batches_received_at ON batches (received_at);
  CREATE TABLE records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts BIGINT NOT NULL,
    slave TEXT NOT NULL,
    client TEXT NOT NULL,
    user_name TEXT,
    method TEXT NOT NULL,
    host TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER NOT NULL,
    bytes_up BIGINT NOT NULL,
    bytes_down BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    action TEXT NOT NULL,
    rule TEXT,
    category TEXT,
    policy_hash TEXT
  );
  -- (ts, id): PostgreSQL indexes do not carry the key, and search pages by (ts, id).
  CREATE INDEX records_ts ON records (ts, id);
  CREATE INDEX records_user_ts ON records (user_name, ts);
  CREATE INDEX records_host_ts ON records (host, ts);
  CREATE INDEX records_action_ts ON records (action, ts);
  CREATE INDEX records_slave_ts ON records (slave, ts);
  `,
  `
  CREATE TABLE records_hourly (
    hour BIGINT NOT NULL,
    slave TEXT NOT NULL,
    host TEXT NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    category TEXT NOT NULL,
    rule TEXT NOT NULL,
    requests BIGINT NOT NULL,
    bytes_up BIGINT NOT NULL,
    bytes_down BIGINT NOT NULL,
    first_ts BIGINT NOT NULL,
    last_ts BIGINT NOT NULL,
    PRIMARY KEY (hour, slave, host, user_name, action, category, rule)
  );
  ${BACKFILL_ROLLUP}
  `,
  PARTIAL_INDEXES,
  POLICY_IDS_POSTGRES,
];
