import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Request, Response } from 'express';
import { secretEquals } from './access-control.js';

export const SESSION_COOKIE = 'safesquid_session';

export interface AdminCredentials {
  username: string;
  /** A bcrypt hash (`$2…`) or the password itself. */
  password: string;
}

/**
 * Administrator login for the web UI: credentials checked against the configured admin, sessions
 * held in memory (a master restart logs everyone out) with an idle expiry, as an HttpOnly,
 * SameSite=Strict cookie.
 */
export class AdminSessions {
  private readonly sessions = new Map<string, { username: string; expiresAt: number }>();

  constructor(
    private readonly admin: AdminCredentials,
    private readonly idleMs = 8 * 3600_000,
    private readonly secureCookie = false,
  ) {}

  async verify(username: string, password: string): Promise<boolean> {
    const userOk = secretEquals(username, this.admin.username);
    const stored = this.admin.password;
    const passOk = /^\$2[aby]\$/.test(stored) ? await bcrypt.compare(password, stored) : secretEquals(password, stored);
    return userOk && passOk;
  }

  create(res: Response, username: string): void {
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { username, expiresAt: Date.now() + this.idleMs });
    res.setHeader('Set-Cookie', this.cookie(id, Math.floor(this.idleMs / 1000)));
  }

  destroy(req: Request, res: Response): void {
    const id = sessionId(req);
    if (id) this.sessions.delete(id);
    res.setHeader('Set-Cookie', this.cookie('', 0));
  }

  fromRequest(req: Request): { username: string } | undefined {
    const id = sessionId(req);
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const now = Date.now();
    if (s.expiresAt < now) {
      this.sessions.delete(id);
      return undefined;
    }
    s.expiresAt = now + this.idleMs;
    return { username: s.username };
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
