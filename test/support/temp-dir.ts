import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  /** Removes the directory and everything in it; safe to call twice. */
  remove(): void;
}

/** A fresh directory `<tmp>/safesquid-<prefix>-XXXXXX`. */
export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `safesquid-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
