/** `make docs-check`: `node operator/dist/docs/docs-check-main.js [--no-run]`; exit 1 when any check fails. */
import { fileURLToPath } from 'node:url';
import { checkDocs, docFiles, formatDocIssue } from './docs-check.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const runnable = !process.argv.includes('--no-run');
const issues = checkDocs(repo, { runnable });
for (const issue of issues) process.stderr.write(`${formatDocIssue(issue)}\n`);
process.stdout.write(`docs-check: ${docFiles(repo).length} files, ${issues.length} problem${issues.length === 1 ? '' : 's'}${runnable ? '' : ' (runnable blocks not run)'}\n`);
process.exitCode = issues.length ? 1 : 0;
