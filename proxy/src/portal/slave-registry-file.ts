/**
 * The slave registry across master restarts: a JSON snapshot in the data directory, written
 * atomically (temp file, fsync, rename) at most once per interval when something changed, and
 * once more on close. Without it a restarted master would forget slaves that died meanwhile and
 * every slave's sync history.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { SYNC_EVENT_KINDS } from '../sync/protocol.js';
import type { PersistedSlave, SlaveRegistry } from './slave-registry.js';

const FORMAT = 1;

export class SlaveRegistryFile {
  private timer: NodeJS.Timeout | undefined;
  private written: number;

  constructor(
    readonly path: string,
    private readonly registry: SlaveRegistry,
    private readonly logger: Logger,
    private readonly intervalMs = 2000,
  ) {
    this.written = registry.changes;
  }

  /** Restores the snapshot, if any. A file that cannot be read is moved aside, never overwritten. */
  load(): void {
    if (!existsSync(this.path)) return;
    let saved: PersistedSlave[];
    let tasks: unknown;
    try {
      const text = readFileSync(this.path, 'utf8');
      saved = parseSnapshot(text);
      tasks = (JSON.parse(text) as { tasks?: unknown }).tasks;
    } catch (err) {
      const aside = `${this.path}.unreadable-${Date.now()}`;
      renameSync(this.path, aside);
      this.logger.error(
        { err, file: this.path, movedTo: aside },
        'slave registry snapshot is unreadable; starting with an empty registry',
      );
      return;
    }
    this.registry.restore(saved);
    this.registry.tasks.restore(tasks);
    this.written = this.registry.changes;
    this.logger.info({ file: this.path, slaves: saved.length }, 'slave registry restored');
  }

  start(): void {
    this.timer = setInterval(() => this.save(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.save();
  }

  /** What the snapshot file holds; a backup (backup/master-backup.ts) holds the same. */
  serialize(): string {
    return JSON.stringify({ format: FORMAT, slaves: this.registry.snapshot(), tasks: this.registry.tasks.snapshot() });
  }

  private save(): void {
    const changes = this.registry.changes;
    if (changes === this.written) return;
    const tmp = `${this.path}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, this.serialize());
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      this.written = changes;
    } catch (err) {
      // The registry in memory is intact; the next interval tries again.
      this.logger.warn({ err, file: this.path }, 'cannot write the slave registry snapshot');
    }
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumOrNull = (v: unknown) => v === null || isNum(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

export function parseSnapshot(text: string): PersistedSlave[] {
  const doc = JSON.parse(text) as { format?: unknown; slaves?: unknown };
  if (doc?.format !== FORMAT || !Array.isArray(doc.slaves))
    throw new Error(`expected {"format": ${FORMAT}, "slaves": [...]}`);
  return doc.slaves.map((s: Partial<PersistedSlave>, i: number) => {
    const ok =
      s &&
      isStr(s.name) &&
      isStr(s.address) &&
      isStr(s.version) &&
      (s.policyHash === null || isStr(s.policyHash)) &&
      isNumOrNull(s.lastSyncAt) &&
      isNumOrNull(s.lastReportAt) &&
      isNum(s.lastSeenAt) &&
      isNumOrNull(s.clockSkewMs) &&
      Array.isArray(s.events) &&
      s.events.every((e) => e && isNum(e.time) && isStr(e.detail) && SYNC_EVENT_KINDS.includes(e.kind));
    if (!ok) throw new Error(`slaves[${i}] is not a slave entry`);
    return s as PersistedSlave;
  });
}
