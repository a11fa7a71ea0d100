/**
 * What a first-day user types: `safesquid --version`, `--help` of every command (an answer, so
 * stdout and exit 0), through the package's bin (`proxy/bin/safesquid.js`, a file that exists when
 * npm links bins, before dist/ is built), and the packed package carrying that bin.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writePolicy } from '../slave/harness.js';
import { REPO } from '../support/repo.js';
import { isSlaveStartedLine, startSlave } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';

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

  it.each(['--help', 'slave --help', 'master --help', 'policy --help', 'policy validate --help', 'policy explain -h'])(
    'safesquid %s: usage on stdout, exit 0',
    async (line) => {
      const r = await safesquid(...line.split(' '));
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^usage: safesquid/);
      expect(r.err).toBe('');
    },
  );

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
      const slave = await startSlave([], {
        env: { SAFESQUID_POLICY: join(dir.path, 'p.yaml'), SAFESQUID_NAME: 'from-env', SAFESQUID_ACCESS_LOG: 'json' },
      });
      try {
        const started = JSON.parse(slave.stderr().split('\n').find(isSlaveStartedLine)!) as {
          policy?: string;
          name?: string;
        };
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
        const line = JSON.parse(slave.stderr().split('\n').find(isSlaveStartedLine)!) as Record<string, unknown>;
        expect(line).toMatchObject({ level: 'info', role: 'slave', name: 'e2e-slave', version: VERSION });
        expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      } finally {
        await slave.stop();
      }
      const bad = await safesquid('slave', '--policy', join(dir.path, 'p.yaml'), '--log-level', 'loud');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(
        /^safesquid slave: --log-level "loud": expected one of fatal, error, warn, info, debug, trace, silent/,
      );
    } finally {
      dir.remove();
    }
  });

  it('the packed package links its bin to a file it carries outside dist/', async () => {
    const dir = tempDir('pack');
    try {
      const packed = await run('npm', ['pack', join(REPO, 'proxy'), '--pack-destination', dir.path, '--json'], {
        cwd: dir.path,
      });
      const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
      const files = info.files.map((f) => f.path);
      const manifest = JSON.parse(
        (await run('tar', ['-xOzf', join(dir.path, info.filename), 'package/package.json'])).stdout,
      ) as { bin: Record<string, string> };
      expect(manifest.bin.safesquid).toBe('bin/safesquid.js');
      expect(files).toContain('bin/safesquid.js');
      expect(files).toContain('dist/cli/main.js');
      expect(files).toEqual(expect.arrayContaining(['ui/index.html', 'policies/default.yaml', 'examples/school.yaml']));
      // package.json `files`: what runs, not the sources, the compiled tests or the build info.
      expect(files.filter((f) => f.startsWith('src/') || /\.test\.|tsbuildinfo/.test(f))).toEqual([]);
    } finally {
      dir.remove();
    }
  }, 60_000);
});

/**
 * The packed package as a user gets it: `npm pack`, then `npm install -g` into a temporary prefix
 * (dependencies from the npm registry; better-sqlite3 is compiled against /usr's Node headers, as
 * .ci/run does: 7.5 min on this 2-core machine while a CI run shared it, 3 min with less load).
 */
describe('safesquid installed from the packed package', () => {
  const dir = tempDir('global');
  const prefix = join(dir.path, 'prefix');
  const installed = join(prefix, 'bin/safesquid');
  let installLog = '';

  beforeAll(async () => {
    const packed = await run('npm', ['pack', join(REPO, 'proxy'), '--pack-destination', dir.path, '--json'], {
      cwd: dir.path,
    });
    const [info] = JSON.parse(packed.stdout) as { filename: string }[];
    // An absolute path: npm reads "dir/x.tgz" as a GitHub shorthand.
    const r = await run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        join(dir.path, info.filename),
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
      ],
      {
        cwd: dir.path,
        env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' },
        timeout: 900_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    installLog = r.stdout + r.stderr;
  }, 960_000);

  afterAll(() => dir.remove());

  async function installedSafesquid(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const r = await run(installed, args, { cwd: dir.path });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, out: err.stdout, err: err.stderr };
    }
  }

  it('links the safesquid command and prints the package version', async () => {
    expect({ bin: existsSync(installed), installLog }).toMatchObject({ bin: true });
    expect(await installedSafesquid('--version')).toEqual({ code: 0, out: `safesquid ${VERSION}\n`, err: '' });
  });

  it('validates an example PolicySet file', async () => {
    const r = await installedSafesquid('policy', 'validate', join(REPO, 'proxy/examples/school.yaml'));
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/school\.yaml: ok: /);
  });

  it('slave --help: usage on stdout, exit 0', async () => {
    const r = await installedSafesquid('slave', '--help');
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^usage: safesquid slave/);
  });

  it('carries what the master needs at run time: the UI, the default policy, a working better-sqlite3', async () => {
    const pkg = join(prefix, 'lib/node_modules/@safesquid/proxy');
    expect(existsSync(join(pkg, 'ui/index.html'))).toBe(true);
    expect(existsSync(join(pkg, 'policies/default.yaml'))).toBe(true);
    expect(existsSync(join(pkg, 'src'))).toBe(false);
    const sqlite = await run(
      process.execPath,
      [
        '-e',
        'const D = require("better-sqlite3"); process.stdout.write(new D(":memory:").prepare("select 1 + 1 as two").get().two + "")',
      ],
      { cwd: pkg },
    );
    expect(sqlite.stdout).toBe('2');
  });
});

describe('npx safesquid in the workspace', () => {
  it('runs the bin npm linked at install time (npm ci, before dist/ is built)', async () => {
    const r = await run('npx', ['--no-install', 'safesquid', '--version'], { cwd: REPO });
    expect(r.stdout).toBe(`safesquid ${VERSION}\n`);
  }, 60_000);
});
