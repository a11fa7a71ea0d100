/**
 * Every flag of `safesquid slave` and `safesquid master` can also be set as `SAFESQUID_<FLAG>`
 * (upper case, `-` as `_`): `--drain-delay 5000` is `SAFESQUID_DRAIN_DELAY=5000`, the way container
 * images and Helm charts like to pass settings. A flag on the command line wins over its variable,
 * and the variable over the flag's default. A flag given several times takes a comma-separated list
 * (`SAFESQUID_LISTEN=0.0.0.0:3128,[::]:3128`); a boolean takes true/false/1/0. Secrets are never
 * flags (they are files: `--token-file`), so no secret is read from the environment; a flag that
 * can carry one (`--postgres-url` with a password) is left out with `notFromEnv`.
 */
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function envName(flag: string): string {
  return `SAFESQUID_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** `args` with the flags set only in the environment put in front. */
export function withEnvFlags(
  args: readonly string[],
  options: Options,
  env: NodeJS.ProcessEnv = process.env,
  notFromEnv: readonly string[] = [],
): string[] {
  const given = new Set<string>();
  for (const a of args) {
    if (a === '--') break;
    if (a.startsWith('--')) given.add(a.slice(2).split('=', 1)[0]);
    else if (a.startsWith('-') && a.length === 2) {
      const long = Object.entries(options).find(([, o]) => o.short === a[1]);
      if (long) given.add(long[0]);
    }
  }
  const fromEnv: string[] = [];
  for (const [flag, o] of Object.entries(options)) {
    if (flag === 'help' || given.has(flag) || notFromEnv.includes(flag)) continue;
    const value = env[envName(flag)];
    if (value === undefined || value === '') continue;
    if (o.type === 'boolean') {
      if (/^(1|true|yes)$/i.test(value)) fromEnv.push(`--${flag}`);
      else if (!/^(0|false|no)$/i.test(value))
        throw new UsageError(`${envName(flag)}: expected true or false, got "${value}"`);
    } else if (o.multiple) {
      for (const part of value
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''))
        fromEnv.push(`--${flag}=${part}`);
    } else {
      fromEnv.push(`--${flag}=${value}`);
    }
  }
  return [...fromEnv, ...args];
}
