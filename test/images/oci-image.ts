/**
 * The images `make images` wrote under .images/: their OCI layouts read as JSON, unpacked into a
 * runtime bundle with umoci (the same way a container runtime lays out an image's layers).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const IMAGES_DIR = join(REPO, '.images');

export interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string>;
}

export interface BuiltImage {
  name: 'proxy' | 'operator';
  layout: string;
  /** Tag name -> manifest digest. */
  tags: Map<string, string>;
  manifest: { layers: { digest: string; size: number; mediaType: string }[]; config: { digest: string; size: number } };
  config: { architecture: string; os: string; config: ImageConfig; history?: { created_by?: string }[] };
}

function blob(layout: string, digest: string): unknown {
  return JSON.parse(readFileSync(join(layout, 'blobs', ...digest.split(':')), 'utf8'));
}

/** The package version the image is tagged with. */
export function packageVersion(name: BuiltImage['name']): string {
  return (JSON.parse(readFileSync(join(REPO, name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The image as `make images` left it, by its VERSION tag; a clear error when it was not built. */
export function builtImage(name: BuiltImage['name']): BuiltImage {
  const layout = join(IMAGES_DIR, name, 'oci');
  if (!existsSync(join(layout, 'index.json'))) {
    throw new Error(`${layout} does not exist: run \`make images\` first (make test does)`);
  }
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const tags = new Map(
    index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'] ?? '', m.digest]),
  );
  const version = packageVersion(name);
  const digest = tags.get(version);
  if (!digest)
    throw new Error(`${layout} has no tag ${version} (tags: ${[...tags.keys()].join(', ')}): run \`make images\``);
  const manifest = blob(layout, digest) as BuiltImage['manifest'];
  const config = blob(layout, manifest.config.digest) as BuiltImage['config'];
  return { name, layout, tags, manifest, config };
}

/** `umoci unpack`: `dir/rootfs` and the runtime spec `dir/config.json` umoci derives from the image config. */
export async function unpack(
  image: BuiltImage,
  tag: string,
  dir: string,
): Promise<{ rootfs: string; spec: RuntimeSpec }> {
  await run('umoci', ['unpack', '--image', `${image.layout}:${tag}`, dir], { maxBuffer: 1 << 24 });
  return {
    rootfs: join(dir, 'rootfs'),
    spec: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RuntimeSpec,
  };
}

/** The parts of an OCI runtime spec (config.json) the tests read or change. */
export interface RuntimeSpec {
  process: { terminal?: boolean; user: { uid: number; gid: number }; args: string[]; env: string[]; cwd: string };
  root: { path: string; readonly?: boolean };
  mounts: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux: { namespaces: { type: string; path?: string }[] } & Record<string, unknown>;
  [key: string]: unknown;
}
