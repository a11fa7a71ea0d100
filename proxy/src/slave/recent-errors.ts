/**
 * The slave's last warning and error log lines, kept for the diagnostics task. It listens on the
 * logger's destination, so every child logger's lines are seen without changing how logs are
 * written.
 */
import type { Logger } from 'pino';
import { tapWarnings } from '../log-tap.js';

export interface RecentLogLine {
  time: string;
  level: 'warn' | 'error' | 'fatal';
  msg: string;
  component?: string;
}

const KEPT = 30;

export class RecentErrors {
  private readonly lines: RecentLogLine[] = [];

  /** Starts keeping the warn/error lines `logger` (and its children) write. */
  tap(logger: Logger): this {
    tapWarnings(logger, (line) => this.keep(line));
    return this;
  }

  list(): readonly RecentLogLine[] {
    return this.lines;
  }

  private keep(line: string): void {
    try {
      const o = JSON.parse(line) as {
        time?: unknown;
        level?: RecentLogLine['level'];
        msg?: unknown;
        component?: unknown;
      };
      this.lines.push({
        time: typeof o.time === 'string' ? o.time : new Date().toISOString(),
        level: o.level ?? 'error',
        msg: String(o.msg ?? '').slice(0, 300),
        ...(typeof o.component === 'string' ? { component: o.component } : {}),
      });
      if (this.lines.length > KEPT) this.lines.shift();
    } catch {
      // Not a JSON line: not ours to keep.
    }
  }
}
