import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The proxy package's version, reported by slaves and shown by the portal. */
export function packageVersion(): string {
  if (cached === undefined) {
    // src/sync and dist/sync are both two levels below the package root.
    const file = fileURLToPath(new URL('../../package.json', import.meta.url));
    cached = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return cached;
}
