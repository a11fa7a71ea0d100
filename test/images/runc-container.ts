/**
 * A container run by Debian's runc from an OCI bundle: the unpacked image's root filesystem
 * mounted read-only, the host's network namespace (so it serves on 127.0.0.1), a tmpfs on /tmp and
 * the given bind mounts. `runc run` stays in the foreground, so the container's output is the
 * child's output and its exit code the child's.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startChild, type ChildHandle } from '../support/child-process.js';
import type { RuntimeSpec } from './oci-image.js';

const run = promisify(execFile);

export interface Bind {
  source: string;
  destination: string;
  readonly?: boolean;
}

export interface ContainerOptions {
  /** Unique among the containers under `stateRoot`. */
  id: string;
  /** The spec `umoci unpack` wrote (user, entrypoint, env, cwd come from the image). */
  spec: RuntimeSpec;
  rootfs: string;
  /** The image's ENTRYPOINT; `args` follow it in place of the image's CMD (as a pod's `args` do). */
  entrypoint: string[];
  args: string[];
  binds?: Bind[];
  /** A directory of this test's for runc's state (`runc --root`), so no other runc user is touched. */
  stateRoot: string;
  /** Where this container's config.json is written. */
  bundleDir: string;
}

export interface RuncContainer {
  readonly id: string;
  readonly child: ChildHandle;
  /** The container's PID 1 as the host sees it. */
  initPid(): Promise<number>;
  /** `runc kill ID SIGNAL`: the signal goes to the container's PID 1, as a kubelet's runtime sends it. */
  signal(sig: 'TERM' | 'KILL' | 'INT'): Promise<void>;
  /** Kills what still runs and `runc delete --force`s the container; safe to call twice. */
  remove(): Promise<void>;
}

export function startContainer(opts: ContainerOptions): RuncContainer {
  const spec = structuredClone(opts.spec);
  spec.process.args = [...opts.entrypoint, ...opts.args];
  spec.process.terminal = false;
  spec.root = { path: opts.rootfs, readonly: true };
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
  spec.mounts = [
    ...spec.mounts,
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'] },
    ...(opts.binds ?? []).map((b) => ({
      destination: b.destination,
      type: 'bind',
      source: b.source,
      options: ['rbind', 'nosuid', 'nodev', b.readonly ? 'ro' : 'rw'],
    })),
  ];
  mkdirSync(opts.bundleDir, { recursive: true });
  writeFileSync(join(opts.bundleDir, 'config.json'), JSON.stringify(spec, null, 2));
  const runc = (...args: string[]) => run('runc', ['--root', opts.stateRoot, ...args]);
  const child = startChild(
    `container ${opts.id}`,
    'runc',
    ['--root', opts.stateRoot, 'run', '--bundle', opts.bundleDir, opts.id],
    {
      stopGraceMs: 5000,
    },
  );
  return {
    id: opts.id,
    child,
    async initPid() {
      const { stdout } = await runc('state', opts.id);
      return (JSON.parse(stdout) as { pid: number }).pid;
    },
    async signal(sig) {
      await runc('kill', opts.id, sig);
    },
    async remove() {
      if (child.running()) await runc('kill', opts.id, 'KILL').catch(() => undefined);
      await child.stop('SIGKILL');
      await runc('delete', '--force', opts.id).catch(() => undefined);
    },
  };
}

/** `Uid:` of /proc/PID/status: real, effective, saved, filesystem. */
export function uidsOf(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'))!;
  return line.split(/\s+/).slice(1).map(Number);
}

/** The options of the mount at `/` in the process's mount namespace (e.g. "ro,relatime"). */
export function rootMountOptions(pid: number): string {
  const line = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === '/');
  if (!line) throw new Error(`no / mount in /proc/${pid}/mountinfo`);
  return line.split(' ')[5];
}
