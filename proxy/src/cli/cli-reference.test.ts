import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCliReference } from './cli-reference.js';

test('docs/cli.md is what the commands print (rewrite it with node proxy/dist/cli/write-cli-reference.js)', () => {
  const committed = readFileSync(join(__dirname, '../../../docs/cli.md'), 'utf8');
  expect(committed).toBe(renderCliReference());
});
