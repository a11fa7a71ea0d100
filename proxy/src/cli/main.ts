#!/usr/bin/env node
/**
 * `safesquid`: one binary, several roles (SafeSquid runs the same software as master and slave).
 * Each subcommand lives in its own module and is loaded only when asked for.
 */
type Command = { run(argv: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  slave: { summary: 'run the forward proxy', load: () => import('./slave-command.js') },
  master: { summary: 'run the Configuration Portal', load: () => import('./master-command.js') },
  policy: { summary: 'validate or explain policy files', load: () => import('./policy-command.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: safesquid <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
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
