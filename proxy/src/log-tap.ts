import { pino, type Logger } from 'pino';

/**
 * Calls `onLine` with each warn, error or fatal JSON line `logger` (and its children, which share
 * its destination) writes; the destination still gets every line. How the slave keeps recent
 * errors for diagnostics and forwards its warnings to the master without changing how it logs.
 */
export function tapWarnings(logger: Logger, onLine: (line: string) => void): void {
  const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym];
  if (!stream || typeof stream.write !== 'function') return;
  const write = stream.write.bind(stream);
  stream.write = (line: string) => {
    // Cheap test first: most lines are info.
    if (line.includes('"level":"warn"') || line.includes('"level":"error"') || line.includes('"level":"fatal"'))
      onLine(line);
    return write(line);
  };
}
