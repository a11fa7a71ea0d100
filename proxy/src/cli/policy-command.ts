export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('safesquid policy: not built yet\n');
  return 1;
}
