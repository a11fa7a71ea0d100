import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SERVER_NODE_FLAGS } from './node-flags.js';

const containerfile = new URL('../../../images/proxy/Containerfile', import.meta.url);
const runScript = new URL('../../../deploy/local/run.mjs', import.meta.url);

describe('SERVER_NODE_FLAGS', () => {
  it('are the options the proxy image starts node with', () => {
    const line = readFileSync(containerfile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT '));
    expect(line).toBeDefined();
    const entrypoint = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
    expect(entrypoint).toEqual(['/usr/local/bin/node', ...SERVER_NODE_FLAGS, '/app/proxy/dist/cli/main.js']);
  });

  it('are the options make run starts master and slaves with', () => {
    expect(readFileSync(runScript, 'utf8')).toMatch(/spawn\(process\.execPath, \[\.\.\.SERVER_NODE_FLAGS, cli/);
  });

  it('are accepted by this node and give a 16 MiB young generation', () => {
    const script =
      "const s = require('v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space'); console.log(s.space_size)";
    const r = spawnSync(process.execPath, [...SERVER_NODE_FLAGS, '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    // Without the options V8 starts at 1 MiB: the check above is not true by default.
    const plain = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(Number(plain.stdout.trim())).toBeLessThan(16 * 1024 * 1024);
  });
});
