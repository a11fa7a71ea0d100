/**
 * `make crds`: writes crds/*.yaml from the TypeBox schemas (`node operator/dist/api/generate-crds.js [DIR]`,
 * DIR defaulting to the repository's crds/).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdFiles } from './crd.js';

const dir = process.argv[2] ?? fileURLToPath(new URL('../../../crds/', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(crdFiles())) {
  writeFileSync(join(dir, name), text);
  process.stdout.write(`wrote ${join(dir, name)}\n`);
}
