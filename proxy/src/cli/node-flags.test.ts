import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS, serverNodeArgs } from './node-flags.js';

const containerfile = new URL('../../../images/proxy/Containerfile', import.meta.url);
const runScript = new URL('../../../deploy/local/run.mjs', import.meta.url);

describe('SERVER_NODE_FLAGS', () => {
  it('are the options the proxy image starts node with', () => {
    const line = readFileSync(containerfile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT '));
    expect(line).toBeDefined();
    const entrypoint = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
    expect(entrypoint).toEqual([
      '/usr/local/bin/node',
      ...serverNodeArgs('/app/proxy/dist'),
      '/app/proxy/dist/cli/main.js',
    ]);
  });

  it('are the options make run starts master and slaves with', () => {
    const script = readFileSync(runScript, 'utf8');
    expect(script).toMatch(/const nodeArgs = serverNodeArgs\(join\(root, 'proxy\/dist'\)\);/);
    expect(script).toMatch(/spawn\(process\.execPath, \[\.\.\.nodeArgs, cli/);
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

  it('keep short-lived objects young after a phase in which objects of the same site lived long', () => {
    // A site's objects first survive (tunnels' heads), then die at once (plain requests' heads):
    // the MiB the old generation grows by in the second phase.
    const script = `
      const v8 = require('v8');
      const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
      function head(i) { return { a: i, b: [i, i + 1], c: { d: i } }; }
      const kept = [];
      for (let i = 0; i < 400000; i++) kept.push(head(i));
      gc(); gc();
      const before = old();
      let sum = 0;
      for (let i = 0; i < 3000000; i++) sum += head(i).a;
      console.log((old() - before) / 1048576, kept.length, sum > 0);`;
    const grown = (flags: readonly string[]) => {
      const r = spawnSync(process.execPath, ['--expose-gc', ...flags, '-e', script], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return Number(r.stdout.split(' ')[0]);
    };
    expect(grown(SERVER_NODE_FLAGS)).toBeLessThan(1);
    // V8's default pretenures the site: the figure above is not small by default.
    expect(grown(SERVER_NODE_FLAGS.filter((f) => f !== '--no-allocation-site-pretenuring'))).toBeGreaterThan(2);
  });

  type Nice = Record<string, number>;
  /**
   * Runs `body` in node started as a server is, after a helper `nice()` (each thread's nice, /proc
   * stat field 19, by thread id) and `before` (its value before any I/O); `body` prints the result.
   */
  const underServerArgs = <T>(body: string): T => {
    const script = `
      const fs = require('fs');
      const nice = () => Object.fromEntries(fs.readdirSync('/proc/self/task').map((t) => {
        const s = fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
        return [t, Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16])];
      }));
      const before = nice();
      ${body}`;
    const dist = fileURLToPath(new URL('../../dist', import.meta.url));
    const r = spawnSync(process.execPath, [...serverNodeArgs(dist), '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as T;
  };
  const startedLater = (before: Nice, after: Nice) => Object.entries(after).filter(([t]) => !(t in before));

  it("leave V8's platform threads at nice 10, the main thread and libuv's pool at 0", () => {
    // A file read starts the pool.
    const { pid, before, after } = underServerArgs<{ pid: number; before: Nice; after: Nice }>(
      `fs.readFile(__filename, () => console.log(JSON.stringify({ pid: process.pid, before, after: nice() })));`,
    );
    const background = Object.entries(before).filter(([t]) => Number(t) !== pid);
    expect(background.length).toBeGreaterThanOrEqual(2);
    expect(background.every(([, n]) => n === 10)).toBe(true);
    expect(after[String(pid)]).toBe(0);
    const pool = startedLater(before, after);
    expect(pool.length).toBeGreaterThanOrEqual(1);
    expect(pool.every(([, n]) => n === 0)).toBe(true);
  });

  it('leave a worker thread, and the pool it finds, at nice 0 (workers run the preload too)', () => {
    const { before, after } = underServerArgs<{ before: Nice; after: Nice }>(`
      fs.readFile(__filename, () => {
        const w = new (require('worker_threads').Worker)('require("worker_threads").parentPort.postMessage(0)', { eval: true });
        w.once('message', () => { console.log(JSON.stringify({ before, after: nice() })); w.terminate(); });
      });`);
    const later = startedLater(before, after);
    // libuv's pool and the worker's own thread at least
    expect(later.length).toBeGreaterThanOrEqual(2);
    expect(later.every(([, n]) => n === 0)).toBe(true);
  });
});
