// Container images made on this machine, for a node that can reach no registry: the pod sandbox
// ("pause") image containerd needs for every pod, and a busybox image for tests. Each is a
// docker-archive tar (what `ctr images import` and `docker load` read), built once into the kube cache.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { kubeCacheDir } from './kube-binaries.js';

export const PAUSE_IMAGE = 'safesquid.test/pause:1';
export const BUSYBOX_IMAGE = 'safesquid.test/busybox:1';

export interface ImageArchive {
  /** The name the image is imported under (what a pod spec's `image` names). */
  ref: string;
  /** docker-archive tar. */
  path: string;
}

// The sandbox process of every pod: holds the namespaces, reaps orphans, exits on SIGTERM/SIGINT.
const PAUSE_C = `#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
static void quit(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, quit);
  signal(SIGTERM, quit);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
`;

export interface ImageConfig {
  ref: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  user?: string;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Deterministic tar of `dir`'s contents (root-owned, mtime 0): the same rootfs gives the same layer digest. */
function tarDir(dir: string, out: string): void {
  execFileSync('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    dir,
    '-cf',
    out,
    '.',
  ]);
}

/** Packs `rootfs` as a one-layer image into a docker-archive tar at `out`. */
export function buildImageArchive(rootfs: string, config: ImageConfig, out: string): ImageArchive {
  const work = mkdtempSync(`${out}.build-`);
  try {
    const layerTmp = join(work, 'layer.tar');
    tarDir(rootfs, layerTmp);
    const layerDigest = sha256(readFileSync(layerTmp));
    mkdirSync(join(work, layerDigest));
    renameSync(layerTmp, join(work, layerDigest, 'layer.tar'));
    const imageConfig = {
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: {
        Entrypoint: config.entrypoint,
        Cmd: config.cmd,
        Env: config.env ?? ['PATH=/bin'],
        User: config.user,
        WorkingDir: '/',
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test/cluster/local-images.ts' }],
    };
    const configJson = Buffer.from(JSON.stringify(imageConfig));
    const configName = `${sha256(configJson)}.json`;
    writeFileSync(join(work, configName), configJson);
    writeFileSync(
      join(work, 'manifest.json'),
      JSON.stringify([{ Config: configName, RepoTags: [config.ref], Layers: [`${layerDigest}/layer.tar`] }]),
    );
    execFileSync('tar', [
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      work,
      '-cf',
      `${out}.tmp`,
      'manifest.json',
      configName,
      layerDigest,
    ]);
    renameSync(`${out}.tmp`, out);
    return { ref: config.ref, path: out };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function buildPause(out: string): ImageArchive {
  const work = mkdtempSync(`${out}.src-`);
  try {
    writeFileSync(join(work, 'pause.c'), PAUSE_C);
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    try {
      execFileSync('gcc', ['-static', '-Os', '-s', '-o', join(rootfs, 'pause'), join(work, 'pause.c')], {
        stdio: 'pipe',
      });
    } catch (err) {
      throw new Error(
        `building the pause image: gcc -static failed (needs gcc and libc6-dev): ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`,
      );
    }
    return buildImageArchive(rootfs, { ref: PAUSE_IMAGE, entrypoint: ['/pause'], user: '65535:65535' }, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// Debian's busybox-static (installed by .ci/install-debian-packages) is one static binary.
const BUSYBOX = '/bin/busybox';

function buildBusybox(out: string): ImageArchive {
  if (!existsSync(BUSYBOX))
    throw new Error(
      `building the busybox test image: ${BUSYBOX} missing; install Debian's busybox-static (make system-deps)`,
    );
  const work = mkdtempSync(`${out}.src-`);
  try {
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'data']) mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
      .split('\n')
      .filter((a) => a && a !== 'busybox');
    for (const applet of applets) symlinkSync('busybox', join(rootfs, 'bin', applet));
    writeFileSync(
      join(rootfs, 'etc', 'passwd'),
      'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    );
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    return buildImageArchive(rootfs, { ref: BUSYBOX_IMAGE, cmd: ['sh'] }, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The pause and busybox archives, built into `<kube cache>/images/` on first use. */
export function testImages(cacheDir = join(kubeCacheDir(), 'images')): { pause: ImageArchive; busybox: ImageArchive } {
  mkdirSync(cacheDir, { recursive: true });
  const pausePath = join(cacheDir, 'pause-1.tar');
  const busyboxPath = join(cacheDir, 'busybox-1.tar');
  return {
    pause: existsSync(pausePath) ? { ref: PAUSE_IMAGE, path: pausePath } : buildPause(pausePath),
    busybox: existsSync(busyboxPath) ? { ref: BUSYBOX_IMAGE, path: busyboxPath } : buildBusybox(busyboxPath),
  };
}
