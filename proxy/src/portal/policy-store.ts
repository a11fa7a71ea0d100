import Database from 'better-sqlite3';

export interface PolicyVersion {
  version: number;
  hash: string;
  createdAt: string;
  author: string;
  comment: string;
}

export interface PolicyVersionWithText extends PolicyVersion {
  text: string;
}

/**
 * The standalone master's policy history: every saved policy text is a new, immutable version
 * (SQLite in the data directory, WAL). The newest version is the policy in force; a rollback
 * appends a copy of an older one, so history is never rewritten.
 */
export class PolicyStore {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    try {
      this.db = new Database(file);
    } catch (err) {
      throw new Error(`cannot open the policy store ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS policy_versions (
      version    INTEGER PRIMARY KEY AUTOINCREMENT,
      hash       TEXT NOT NULL,
      text       TEXT NOT NULL,
      created_at TEXT NOT NULL,
      author     TEXT NOT NULL,
      comment    TEXT NOT NULL DEFAULT ''
    )`);
  }

  latest(): PolicyVersionWithText | undefined {
    const row = this.db.prepare('SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1').get();
    return row ? toVersion(row as Row, true) : undefined;
  }

  /** Newest first. */
  list(limit = 500): PolicyVersion[] {
    const rows = this.db
      .prepare('SELECT version, hash, created_at, author, comment FROM policy_versions ORDER BY version DESC LIMIT ?')
      .all(limit) as Row[];
    return rows.map((r) => toVersion(r, false));
  }

  get(version: number): PolicyVersionWithText | undefined {
    const row = this.db.prepare('SELECT * FROM policy_versions WHERE version = ?').get(version);
    return row ? toVersion(row as Row, true) : undefined;
  }

  append(entry: { text: string; hash: string; author: string; comment?: string }): PolicyVersion {
    const createdAt = new Date().toISOString();
    const info = this.db
      .prepare('INSERT INTO policy_versions (hash, text, created_at, author, comment) VALUES (?, ?, ?, ?, ?)')
      .run(entry.hash, entry.text, createdAt, entry.author, entry.comment ?? '');
    return {
      version: Number(info.lastInsertRowid),
      hash: entry.hash,
      createdAt,
      author: entry.author,
      comment: entry.comment ?? '',
    };
  }

  close(): void {
    this.db.close();
  }
}

interface Row {
  version: number;
  hash: string;
  text?: string;
  created_at: string;
  author: string;
  comment: string;
}

function toVersion(row: Row, withText: true): PolicyVersionWithText;
function toVersion(row: Row, withText: false): PolicyVersion;
function toVersion(row: Row, withText: boolean): PolicyVersion | PolicyVersionWithText {
  const v: PolicyVersion = {
    version: row.version,
    hash: row.hash,
    createdAt: row.created_at,
    author: row.author,
    comment: row.comment,
  };
  return withText ? { ...v, text: row.text ?? '' } : v;
}
