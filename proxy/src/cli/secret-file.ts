import { readFileSync, statSync } from 'node:fs';

/**
 * A secret kept in a file (a mounted Kubernetes Secret): read at start, and re-read when the file
 * changes (checked at most once a second), so rotating the Secret needs no restart. An emptied or
 * unreadable file keeps the last good value rather than locking every caller out.
 */
export class SecretFile {
  private current: string;
  /** Which file, and which version of it: a swapped symlink changes the inode even within one mtime tick. */
  private version: string;
  private checkedAt = 0;

  constructor(
    readonly path: string,
    private readonly what: string,
    private readonly onChange?: (what: string, path: string) => void,
  ) {
    this.version = this.stat();
    this.current = this.read();
    if (!this.current) throw new Error(`the ${what} file ${path} is empty`);
  }

  get value(): string {
    const now = Date.now();
    if (now - this.checkedAt >= 1000) {
      this.checkedAt = now;
      try {
        const version = this.stat();
        if (version !== this.version) {
          const next = this.read();
          this.version = version;
          if (next && next !== this.current) {
            this.current = next;
            this.onChange?.(this.what, this.path);
          }
        }
      } catch {
        // Mid-swap or removed: keep the last good value; the next check tries again.
      }
    }
    return this.current;
  }

  private stat(): string {
    const st = statSync(this.path);
    return `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
  }

  private read(): string {
    return readFileSync(this.path, 'utf8').trim();
  }
}
