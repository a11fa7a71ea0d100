#!/usr/bin/env node
/**
 * `safesquid`: one binary, several roles (SafeSquid runs the same software as master and slave).
 * Each subcommand lives in its own module and is loaded only when asked for.
 */
import { VERSION } from './logger.js';

type Command = { run(argv: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  slave: { summary: 'run the forward proxy', load: () => import('./slave-command.js') },
  master: { summary: 'run the Configuration Portal', load: () => import('./master-command.js') },
  policy: { summary: 'validate or explain policy files', load: () => import('./policy-command.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: safesquid <command> [options]\n       safesquid --version\n\ncommands:\n${lines.join('\n')}\n\n'safesquid <command> --help' describes a command's options. Every flag of slave and master can\nalso be set as SAFESQUID_<FLAG> (--drain-delay 5000: SAFESQUID_DRAIN_DELAY=5000); the command line wins.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`safesquid ${VERSION}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`safesquid: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`safesquid: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
