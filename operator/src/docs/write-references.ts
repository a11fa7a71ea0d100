/** `make docs`: writes docs/reference/*.md (`node operator/dist/docs/write-references.js`). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceFiles } from './references.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
for (const [file, text] of Object.entries(referenceFiles())) {
  mkdirSync(dirname(join(repo, file)), { recursive: true });
  writeFileSync(join(repo, file), text);
  process.stdout.write(`wrote ${file}\n`);
}
