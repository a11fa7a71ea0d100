import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rbacManifests } from './rules.js';

it('deploy/rbac/ is what rules.ts generates (run `make rbac` after changing the rules)', () => {
  const root = join(__dirname, '../../../deploy/rbac');
  for (const [file, text] of Object.entries(rbacManifests())) {
    expect(`${file}:\n${readFileSync(join(root, file), 'utf8')}`).toBe(`${file}:\n${text}`);
  }
});
