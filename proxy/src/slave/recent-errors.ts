/**
 * The slave's last warning and error log lines, kept for the diagnostics task. It listens on the
 * logger's destination, so every child logger's lines are seen without changing how logs are
 * written.
 */
import { pino, type Logger } from 'pino';

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
    const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym];
    if (!stream || typeof stream.write !== 'function') return this;
    const write = stream.write.bind(stream);
    stream.write = (line: string) => {
      // Cheap test first: most lines are info.
      if (line.includes('"level":"warn"') || line.includes('"level":"error"') || line.includes('"level":"fatal"'))
        this.keep(line);
      return write(line);
    };
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
