import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
/** The repository root, from test/support (jest) or test/dist/support (compiled, as benches import it). */
export const REPO = resolve(here, basename(resolve(here, '..')) === 'dist' ? '../../..' : '../..');
/** The built CLI: `node SAFESQUID_CLI master|slave ...`. */
export const SAFESQUID_CLI = join(REPO, 'proxy/dist/cli/main.js');
