export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('safesquid master: not built yet\n');
  return 1;
}
