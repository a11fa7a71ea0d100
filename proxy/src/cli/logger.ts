/**
 * The log every role writes: pino JSON on stderr with the same base fields (role, name, version,
 * pid), level names instead of numbers and ISO times, so one log pipeline reads master, slave and
 * worker lines alike.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import { UsageError } from '../errors.js';

/** The package's version (proxy/package.json, two levels up from both src/cli and dist/cli). */
export const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function checkLogLevel(level: string): string {
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level "${level}": expected one of ${LEVELS.join(', ')}`);
  return level;
}

export function makeLogger(o: { role: 'slave' | 'master' | 'worker'; name: string; level: string }): Logger {
  return pino(
    {
      level: o.level,
      base: { role: o.role, name: o.name, version: VERSION, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination(2),
  );
}
