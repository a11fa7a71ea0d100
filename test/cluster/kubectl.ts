import { execFile } from 'node:child_process';
import { locateKubeBinaries } from './kube-binaries.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real kubectl against $KUBECONFIG (set by the cluster project's globalSetup). Resolves with
 * the exit code instead of throwing, since tests assert on refusals as much as on success.
 */
export function kubectl(args: string[], input?: string, timeoutMs = 30_000): Promise<KubectlResult> {
  const { kubectl: binary } = locateKubeBinaries();
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`kubectl ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

/** kubectl that must succeed; the error carries the command and its stderr. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const res = await kubectl(args, input);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
  return res.stdout;
}

/** `kubectl get -o json`, parsed; null when the object does not exist. */
export async function getJson<T = any>(args: string[]): Promise<T | null> {
  const res = await kubectl(['get', ...args, '-o', 'json']);
  if (res.code !== 0) {
    if (/NotFound|not found/.test(res.stderr)) return null;
    throw new Error(`kubectl get ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
  }
  return JSON.parse(res.stdout) as T;
}

/** Polls `check` every 250 ms until it returns a value other than undefined, or fails naming `what`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A namespace with a unique name for one test file; delete it in afterAll. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  await kubectlOk(['create', 'namespace', name]);
  return name;
}
