/**
 * What a first-day user types: `safesquid --version`, `--help` of every command (an answer, so
 * stdout and exit 0), through the package's bin (`proxy/bin/safesquid.js`, a file that exists when
 * npm links bins, before dist/ is built), and the packed package carrying that bin.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, startSlave, tempDir, writePolicy } from '../slave/harness.js';

const run = promisify(execFile);
const BIN = join(REPO, 'proxy/bin/safesquid.js');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'proxy/package.json'), 'utf8')) as { version: string }).version;

async function safesquid(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
}

describe('safesquid on first use', () => {
  it('--version prints the package version', async () => {
    expect(await safesquid('--version')).toEqual({ code: 0, out: `safesquid ${VERSION}\n`, err: '' });
  });

  it.each(['--help', 'slave --help', 'master --help', 'policy --help', 'policy validate --help', 'policy explain -h'])('safesquid %s: usage on stdout, exit 0', async (line) => {
    const r = await safesquid(...line.split(' '));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: safesquid/);
    expect(r.err).toBe('');
  });

  it('a mistake still goes to stderr with exit 2', async () => {
    const r = await safesquid('slave', '--no-such-flag');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^safesquid slave: .*no-such-flag/);
  });

  it('takes flags from SAFESQUID_<FLAG> variables, the command line winning', async () => {
    const dir = tempDir('envflags');
    try {
      writePolicy(join(dir.path, 'p.yaml'), 'env', 'rules: []');
      // No --policy on the command line: SAFESQUID_POLICY gives it; --name beats SAFESQUID_NAME.
      const slave = await startSlave([], { SAFESQUID_POLICY: join(dir.path, 'p.yaml'), SAFESQUID_NAME: 'from-env', SAFESQUID_ACCESS_LOG: 'json' });
      try {
        const started = JSON.parse(slave.stderr().split('\n').find((l) => l.includes('"slave started"'))!) as { policy?: string; name?: string };
        expect(started.policy).toMatch(/^sha256:/);
        expect(slave.stderr()).not.toContain('from-env');
      } finally {
        await slave.stop();
      }
    } finally {
      dir.remove();
    }
  });

  it('every role logs the same base fields, level names and ISO times; the slave takes --log-level', async () => {
    const dir = tempDir('logfields');
    try {
      writePolicy(join(dir.path, 'p.yaml'), 'logs', 'rules: []');
      const slave = await startSlave(['--policy', join(dir.path, 'p.yaml'), '--log-level', 'debug']);
      try {
        const line = JSON.parse(slave.stderr().split('\n').find((l) => l.includes('"slave started"'))!) as Record<string, unknown>;
        expect(line).toMatchObject({ level: 'info', role: 'slave', name: 'e2e-slave', version: VERSION });
        expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      } finally {
        await slave.stop();
      }
      const bad = await safesquid('slave', '--policy', join(dir.path, 'p.yaml'), '--log-level', 'loud');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/^safesquid slave: --log-level "loud": expected one of fatal, error, warn, info, debug, trace, silent/);
    } finally {
      dir.remove();
    }
  });

  it('the packed package links its bin to a file it carries outside dist/', async () => {
    const dir = tempDir('pack');
    try {
      const packed = await run('npm', ['pack', join(REPO, 'proxy'), '--pack-destination', dir.path, '--json'], { cwd: dir.path });
      const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
      const files = info.files.map((f) => f.path);
      const manifest = JSON.parse((await run('tar', ['-xOzf', join(dir.path, info.filename), 'package/package.json'])).stdout) as { bin: Record<string, string> };
      expect(manifest.bin.safesquid).toBe('bin/safesquid.js');
      expect(files).toContain('bin/safesquid.js');
      expect(files).toContain('dist/cli/main.js');
    } finally {
      dir.remove();
    }
  }, 60_000);
});
