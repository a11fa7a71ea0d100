export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('safesquid slave: not built yet\n');
  return 1;
}
