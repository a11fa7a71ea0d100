/** Writes docs/cli.md (`node proxy/dist/cli/write-cli-reference.js`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderCliReference } from './cli-reference.js';

const file = fileURLToPath(new URL('../../../docs/cli.md', import.meta.url));
writeFileSync(file, renderCliReference());
process.stdout.write(`wrote ${file}\n`);
