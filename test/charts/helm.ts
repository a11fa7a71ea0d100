/**
 * The real helm (a pinned release built into the Kubernetes binary cache by `make kube-binaries`),
 * run on charts/safesquid, and the rendered manifests as objects.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { BUILD_COMMAND, KUBE_VERSION, kubeCacheDir } from '../cluster/kube-binaries.js';

export const CHART = join(__dirname, '..', '..', 'charts', 'safesquid');

/** Path of helm in the binary cache (or $SAFESQUID_HELM); throws naming the command that builds it. */
export function helmBinary(): string {
  const path = process.env.SAFESQUID_HELM || join(kubeCacheDir(), 'bin', 'helm');
  if (!existsSync(path)) throw new Error(`helm not found at ${path}; build it with: ${BUILD_COMMAND} (or set SAFESQUID_HELM)`);
  return path;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm; resolves with the exit code instead of throwing (tests assert on refusals too). */
export function helm(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  const binary = helmBinary();
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 32 << 20, env: { ...process.env, HELM_CACHE_HOME: join(kubeCacheDir(), 'helm-cache') } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`helm ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

export async function helmOk(args: string[], timeoutMs?: number): Promise<string> {
  const r = await helm(args, timeoutMs);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}:\n${r.stderr.trim()}`);
  return r.stdout;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

/** Every document of a multi-document YAML stream that is an object (comments and empty ones dropped). */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0].message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object' && 'kind' in o);
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  set?: string[];
  setJson?: string[];
  apiVersions?: string[];
  includeCrds?: boolean;
}

export function renderArgs(o: RenderOptions = {}): string[] {
  return [
    o.release ?? 'safesquid',
    CHART,
    '--namespace', o.namespace ?? 'safesquid-system',
    ...(o.set ?? []).flatMap((s) => ['--set', s]),
    ...(o.setJson ?? []).flatMap((s) => ['--set-json', s]),
    ...(o.apiVersions ?? []).flatMap((a) => ['--api-versions', a]),
    ...(o.includeCrds ? ['--include-crds'] : []),
  ];
}

/**
 * For `helm template` and client-side dry runs, which know no cluster: the Kubernetes version the
 * tests run (a helm built by `go install` otherwise assumes 1.20, below the chart's kubeVersion).
 */
export const OFFLINE_KUBE_VERSION = ['--kube-version', KUBE_VERSION];

/** `helm template`: the manifests the chart renders (no cluster needed). */
export async function render(o: RenderOptions = {}): Promise<K8sObject[]> {
  return parseManifests(await helmOk(['template', ...renderArgs(o), ...OFFLINE_KUBE_VERSION]));
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}
