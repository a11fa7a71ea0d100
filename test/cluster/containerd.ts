// containerd for the real node: its own config, root, state and socket under the control plane's
// dir, so it neither meets nor disturbs a containerd the host may run.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CTR = '/usr/bin/ctr';
export const CONTAINERD = '/usr/bin/containerd';
export const CNI_BIN_DIR = '/usr/lib/cni';
// The namespace the CRI plugin (so the kubelet) sees images and containers in.
export const K8S_NAMESPACE = 'k8s.io';

export interface ContainerdPaths {
  /** The dir everything below lives in. */
  dir: string;
  config: string;
  root: string;
  state: string;
  /** gRPC socket: what the kubelet's containerRuntimeEndpoint and `ctr -a` name. */
  socket: string;
}

export function containerdPaths(dir: string): ContainerdPaths {
  return {
    dir,
    config: join(dir, 'config.toml'),
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    socket: join(dir, 'containerd.sock'),
  };
}

export interface ContainerdConfigOptions {
  sandboxImage: string;
  cniConfDir: string;
}

/**
 * The config (schema 2, containerd 1.6). What this machine needs: cgroupfs (no systemd), the
 * overlayfs snapshotter, and `restrict_oom_score_adj` since there is no CAP_SYS_RESOURCE here (runc
 * otherwise fails with "can't get final child's PID from pipe"). Every path the daemon and the runc
 * shim write to is under `paths.dir`, the pod network namespaces included.
 */
export function writeContainerdConfig(paths: ContainerdPaths, opts: ContainerdConfigOptions): void {
  mkdirSync(paths.root, { recursive: true });
  mkdirSync(paths.state, { recursive: true });
  const q = JSON.stringify;
  const toml = `version = 2
root = ${q(paths.root)}
state = ${q(paths.state)}
# btrfs, zfs, devmapper and aufs are not used; skipping them keeps the log to what matters.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${q(paths.socket)}

[ttrpc]
  address = ${q(`${paths.socket}.ttrpc`)}

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(paths.dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(opts.sandboxImage)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = ${q(join(paths.dir, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(CNI_BIN_DIR)}
    conf_dir = ${q(opts.cniConfDir)}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
`;
  writeFileSync(paths.config, toml);
}

/** `ctr` against this containerd, in the CRI namespace. */
export async function ctr(socket: string, args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run(CTR, ['--address', socket, '--namespace', K8S_NAMESPACE, ...args], {
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ctr ${args.join(' ')} (containerd ${socket}): ${(e.stderr || e.message).trim()}`);
  }
}

export interface LoadImageOptions {
  /** The real node's containerd socket; default $SAFESQUID_CONTAINERD_ADDRESS (set by the e2e-kube globalSetup). */
  address?: string;
  /**
   * For an OCI archive whose index names no image: the name to give it (`ctr import --index-name`).
   * A docker-archive (`docker save`, local-images.ts) names its images itself.
   */
  name?: string;
}

/**
 * Imports an image archive (docker-archive or OCI tar) into the real node's containerd, unpacked
 * for the overlayfs snapshotter, so pods can run it with `imagePullPolicy: Never` (or IfNotPresent
 * with a tag other than latest). Resolves to the image names imported.
 */
export async function loadImage(archivePath: string, opts: LoadImageOptions = {}): Promise<string[]> {
  const address = opts.address ?? process.env.SAFESQUID_CONTAINERD_ADDRESS;
  if (!address) {
    throw new Error(
      'loadImage: no containerd address; pass { address: controlPlane.realNode.containerdSocket } or run under the e2e-kube globalSetup (SAFESQUID_CONTAINERD_ADDRESS)',
    );
  }
  const args = ['images', 'import', '--snapshotter', 'overlayfs'];
  if (opts.name) args.push('--index-name', opts.name);
  const out = await ctr(address, [...args, archivePath], 300_000);
  // "unpacking safesquid.test/pause:1 (sha256:...)...done"
  const names = [...out.matchAll(/^unpacking (\S+) \(sha256:[0-9a-f]+\)/gm)].map((m) => m[1]);
  if (names.length === 0)
    throw new Error(`loadImage ${archivePath}: ctr imported no named image; output: ${out.trim() || '(none)'}`);
  return names;
}
