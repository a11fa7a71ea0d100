import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import bcrypt from 'bcryptjs';
import type { Request, Response } from 'express';
import { secretEquals } from './secret-equals.js';

export const SESSION_COOKIE = 'safesquid_session';

export interface AdminCredentials {
  username: string;
  /** A bcrypt hash (`$2…`) or the password itself. */
  password: string;
}

interface Session {
  username: string;
  expiresAt: number;
}

/** A session's expiry is written back at most this often (every admin request slides it). */
const SLIDE_WRITE_MS = 60_000;

/**
 * Where sessions live: SQLite in the data directory, so that a master restart (an upgrade, a
 * rescheduled pod) does not log everyone out. Only a hash of each session id is stored: a copy
 * of the file holds no usable cookie.
 */
class SessionTable {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(file: string) {
    try {
      this.db = new Database(file);
    } catch (err) {
      throw new Error(`cannot open the admin session store ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.db.pragma('journal_mode = WAL');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS admin_sessions (id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at INTEGER NOT NULL)',
    );
    this.stmts = {
      get: this.db.prepare<[string], { username: string; expires_at: number }>(
        'SELECT username, expires_at FROM admin_sessions WHERE id_hash = ?',
      ),
      put: this.db.prepare('INSERT OR REPLACE INTO admin_sessions (id_hash, username, expires_at) VALUES (?, ?, ?)'),
      del: this.db.prepare('DELETE FROM admin_sessions WHERE id_hash = ?'),
      prune: this.db.prepare('DELETE FROM admin_sessions WHERE expires_at < ?'),
    };
  }

  get(id: string): Session | undefined {
    const row = this.stmts.get.get(hashId(id));
    return row && { username: row.username, expiresAt: row.expires_at };
  }

  set(id: string, s: Session): void {
    this.stmts.put.run(hashId(id), s.username, s.expiresAt);
  }

  delete(id: string): void {
    this.stmts.del.run(hashId(id));
  }

  prune(now: number): void {
    this.stmts.prune.run(now);
  }

  close(): void {
    this.db.close();
  }
}

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

export interface AdminSessionOptions {
  /** SQLite file that keeps sessions across restarts. */
  file: string;
  idleMs?: number;
  secureCookie?: boolean;
}

/**
 * Administrator login for the web UI: credentials checked against the configured admin, sessions
 * with an idle expiry as an HttpOnly, SameSite=Strict cookie.
 */
export class AdminSessions {
  private readonly table: SessionTable;
  private readonly idleMs: number;
  private readonly secureCookie: boolean;

  constructor(
    private readonly admin: AdminCredentials,
    opts: AdminSessionOptions,
  ) {
    this.idleMs = opts.idleMs ?? 8 * 3600_000;
    this.secureCookie = opts.secureCookie ?? false;
    this.table = new SessionTable(opts.file);
  }

  async verify(username: string, password: string): Promise<boolean> {
    const userOk = secretEquals(username, this.admin.username);
    const stored = this.admin.password;
    const passOk = /^\$2[aby]\$/.test(stored) ? await bcrypt.compare(password, stored) : secretEquals(password, stored);
    return userOk && passOk;
  }

  create(res: Response, username: string): void {
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    this.table.prune(now);
    this.table.set(id, { username, expiresAt: now + this.idleMs });
    res.setHeader('Set-Cookie', this.cookie(id, Math.floor(this.idleMs / 1000)));
  }

  destroy(req: Request, res: Response): void {
    const id = sessionId(req);
    if (id) this.table.delete(id);
    res.setHeader('Set-Cookie', this.cookie('', 0));
  }

  fromRequest(req: Request): { username: string } | undefined {
    const id = sessionId(req);
    if (!id) return undefined;
    const s = this.table.get(id);
    if (!s) return undefined;
    const now = Date.now();
    if (s.expiresAt < now) {
      this.table.delete(id);
      return undefined;
    }
    const slid = now + this.idleMs;
    if (slid - s.expiresAt >= SLIDE_WRITE_MS) this.table.set(id, { username: s.username, expiresAt: slid });
    return { username: s.username };
  }

  close(): void {
    this.table.close();
  }

  private cookie(value: string, maxAge: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${this.secureCookie ? '; Secure' : ''}`;
  }
}

function sessionId(req: Request): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
