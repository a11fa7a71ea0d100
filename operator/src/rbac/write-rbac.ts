/** Writes deploy/rbac/ from rules.ts: `make rbac` (node operator/dist/rbac/write-rbac.js). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rbacManifests } from './rules.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '../../../deploy/rbac');
for (const [file, text] of Object.entries(rbacManifests())) {
  mkdirSync(dirname(join(out, file)), { recursive: true });
  writeFileSync(join(out, file), text);
  process.stdout.write(`wrote deploy/rbac/${file}\n`);
}
