#!/usr/bin/env node
// `make run`: a master on 127.0.0.1:8888 and two slaves on 127.0.0.1:3128 and :3129 (metrics on
// :9090 and :9091), the master's store seeded with the embedded default policy. State lives under
// `.run/` (gitignored) so policy versions, reports and generated secrets survive a restart.
// Builds nothing: `make run` runs `tsc -b` first. Ctrl-C stops every child by its PID.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'proxy/dist/cli/main.js');
const nodeFlags = join(root, 'proxy/dist/cli/node-flags.js');
const state = join(root, '.run');
const portal = 'http://127.0.0.1:8888';

for (const file of [cli, nodeFlags]) {
  if (!existsSync(file)) {
    console.error(`run: ${file} is missing: build first (make run does, or npx tsc -b)`);
    process.exit(1);
  }
}
// node's options as the proxy image runs master and slaves (proxy/src/cli/node-flags.ts).
const { serverNodeArgs } = await import(nodeFlags);
const nodeArgs = serverNodeArgs(join(root, 'proxy/dist'));

function secret(name) {
  const file = join(state, name);
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  return { file, value: readFileSync(file, 'utf8').trim() };
}

mkdirSync(state, { recursive: true });
const token = secret('cluster-token');
const password = secret('admin-password');

const children = new Map(); // name → ChildProcess
let stopping = false;

function start(name, args) {
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  const prefix = (stream, out) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) out.write(`[${name}] ${line}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      console.error(`run: ${name} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); stopping the others`);
      stop(1);
    } else if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
  return child;
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  if (children.size === 0) process.exit(code);
  for (const [name, child] of children) {
    console.error(`run: stopping ${name} (pid ${child.pid})`);
    process.kill(child.pid, 'SIGTERM');
  }
  setTimeout(() => {
    for (const [name, child] of children) {
      console.error(`run: ${name} (pid ${child.pid}) did not stop; killing it`);
      process.kill(child.pid, 'SIGKILL');
    }
  }, 10_000).unref();
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

async function waitReady(url, what) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !stopping) {
    try {
      const res = await fetch(url);
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!stopping) {
    console.error(`run: ${what} not ready at ${url} after 20 s`);
    stop(1);
  }
  return false;
}

start('master', [
  'master',
  '--listen', '127.0.0.1:8888',
  '--data-dir', join(state, 'master'),
  '--token-file', token.file,
  '--admin-user', 'admin',
  '--admin-password-file', password.file,
  '--allow', '127.0.0.0/8,::1',
]);
if (await waitReady(`${portal}/readyz`, 'the master')) {
  for (const [i, name] of ['slave-1', 'slave-2'].entries()) {
    start(name, [
      'slave',
      '--name', name,
      '--listen', `127.0.0.1:${3128 + i}`,
      '--metrics-listen', `127.0.0.1:${9090 + i}`,
      '--master', portal,
      '--token-file', token.file,
      '--state-dir', join(state, name),
    ]);
  }
  const slavesReady = await Promise.all([9090, 9091].map((p) => waitReady(`http://127.0.0.1:${p}/readyz`, `the slave on :${p - 9090 + 3128}`)));
  if (slavesReady.every(Boolean)) {
    console.log(`
  SafeSquid is running.
    Configuration Portal  ${portal}/   (user admin, password ${password.value})
    slaves (proxies)      127.0.0.1:3128, 127.0.0.1:3129   e.g. curl -x 127.0.0.1:3128 http://example.com/
    slave metrics         http://127.0.0.1:9090/metrics, http://127.0.0.1:9091/metrics
    cluster token         ${token.file}
    state                 ${state}
  Ctrl-C stops everything.
`);
  }
}
