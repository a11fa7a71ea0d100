/**
 * Starts Debian's PostgreSQL 15 as a real, throw-away server for tests and benchmarks:
 * a temp cluster owned by `postgres` (initdb and postgres refuse to run as root), listening
 * on 127.0.0.1 on a free port with its socket in the temp dir, `trust` auth on loopback.
 * `stop()` kills the postmaster by PID and removes the directory.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../support/free-port.js';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  dir: string;
  /** Creates a fresh database and returns its URL (one per test keeps tests independent). */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** fsync=off etc.: for tests, where durability across power loss does not matter. Default true. */
  fast?: boolean;
  startTimeoutMs?: number;
}

function uidOf(user: string): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', user]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', user]).toString().trim()),
  };
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const fast = opts.fast ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'safesquid-pg-'));
  const data = join(dir, 'data');
  const { uid, gid } = uidOf('postgres');
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  const asPostgres = (args: string[]) => ['-u', 'postgres', '--', ...args];

  let child: ChildProcess | undefined;
  const stderr: string[] = [];
  const cleanup = async () => {
    // runuser forks: the postmaster's own PID is in postmaster.pid; kill it by that PID.
    let pid: number | undefined;
    try {
      pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      pid = undefined;
    }
    if (pid) {
      try {
        process.kill(pid, 'SIGQUIT'); // immediate shutdown: nothing here needs a checkpoint
      } catch {
        // already gone
      }
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (child && child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    execFileSync(
      'runuser',
      asPostgres([
        `${BIN}/initdb`,
        '-D',
        data,
        '-U',
        'postgres',
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--no-sync',
        '--no-instructions',
      ]),
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const port = await freePort();
    const settings = [
      '-c',
      `listen_addresses=127.0.0.1`,
      '-c',
      `port=${port}`,
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'max_connections=50',
      '-c',
      'shared_buffers=128MB',
      ...(fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ];
    child = spawn('runuser', asPostgres([`${BIN}/postgres`, '-D', data, ...settings]), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderr.push(b.toString());
      if (stderr.length > 50) stderr.shift();
    });
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${stderr.join('')}`);
      const c = new pg.Client({ connectionString: url });
      try {
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
        break;
      } catch {
        await c.end().catch(() => {});
        if (Date.now() > deadline)
          throw new Error(`postgres did not accept connections on 127.0.0.1:${port}: ${stderr.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      url,
      port,
      dir,
      async createDatabase(name: string) {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`database name "${name}": use [a-z0-9_]`);
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE ${name}`);
        } finally {
          await c.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
