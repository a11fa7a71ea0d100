/**
 * docs/cli.md, made from the commands' own usage texts (the option tables the CLI prints with
 * --help), so the reference cannot drift from the program: cli-reference.test.ts fails when the
 * committed file differs, and `node proxy/dist/cli/write-cli-reference.js` rewrites it.
 */
import { BACKUP_USAGE, RESTORE_USAGE } from './backup-command.js';
import { USAGE as MASTER } from './master-command.js';
import { USAGE as POLICY } from './policy-command.js';
import { USAGE as SLAVE } from './slave-command.js';

export function renderCliReference(): string {
  const section = (title: string, what: string, usage: string) =>
    `## ${title}\n\n${what}\n\n\`\`\`text\n${usage.trimEnd()}\n\`\`\`\n`;
  return [
    '# safesquid command line',
    '',
    "<!-- Generated from the commands' usage texts by `node proxy/dist/cli/write-cli-reference.js`; do not edit. -->",
    '',
    '`safesquid <command> [options]`; `safesquid --version` prints the version, `safesquid <command> --help`',
    'the options below (on stdout, exit 0). A usage mistake is printed on stderr with exit 2.',
    '',
    'Every flag of `slave` (the `--auth-*` flags too) and `master` can also be set as `SAFESQUID_<FLAG>` (upper case, `-` as `_`):',
    '`--drain-delay 5000` is `SAFESQUID_DRAIN_DELAY=5000`. A flag on the command line wins over its variable,',
    'the variable over the default; repeatable flags take a comma-separated list, booleans true or false.',
    'Secrets are files (`--token-file`, `--admin-password-file`, `--auth-ldap-service-password-file`), never variables; `--postgres-url` is not read',
    'from the environment. Logs are JSON on stderr with `role`, `name`, `version`, `pid`, level names and ISO times.',
    '',
    section('safesquid slave', 'The forward proxy.', SLAVE),
    section('safesquid master', 'The Configuration Portal: policy, slave registry and reports.', MASTER),
    section('safesquid master backup', 'A backup of a running master, taken while slaves keep posting.', BACKUP_USAGE),
    section('safesquid master restore', 'A backup put back into a stopped master’s data directory.', RESTORE_USAGE),
    section('safesquid policy', 'Check and explain PolicySet files offline.', POLICY),
  ].join('\n');
}
