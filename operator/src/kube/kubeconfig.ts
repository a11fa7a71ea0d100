import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { parse } from 'yaml';
import { NeedsAuthPlugin } from '../errors.js';
export { NeedsAuthPlugin };

/** Where and how to reach the API server: what KubeClient needs, nothing more. */
export interface KubeConnection {
  server: string;
  /** For the keep-alive agent: CA, client certificate and key, verification. */
  tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  /** Per request: the Authorization header (a token file is re-read as it rotates). */
  headers(): Promise<Record<string, string>>;
  /** Where it came from, for logs. */
  source: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

/** A token read from a file, re-read at most once a minute (projected service-account tokens rotate). */
function tokenFromFile(path: string): () => string {
  let value = '';
  let readAt = 0;
  return () => {
    if (!value || Date.now() - readAt > TOKEN_REREAD_MS) {
      value = readFileSync(path, 'utf8').trim();
      readAt = Date.now();
    }
    return value;
  };
}

/** The Pod's service account, when run in a Pod. */
export function inClusterConnection(): KubeConnection | undefined {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !existsSync(join(SA_DIR, 'token'))) return undefined;
  const token = tokenFromFile(join(SA_DIR, 'token'));
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca: readFileSync(join(SA_DIR, 'ca.crt')) },
    headers: async () => ({ authorization: `Bearer ${token()}` }),
    source: 'in-cluster service account',
  };
}

interface NamedCluster {
  name: string;
  cluster: {
    server: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
    'tls-server-name'?: string;
  };
}
interface NamedUser {
  name: string;
  user?: {
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    token?: string;
    tokenFile?: string;
    username?: string;
    password?: string;
    exec?: unknown;
    'auth-provider'?: unknown;
  };
}
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user?: string } }[];
  clusters?: NamedCluster[];
  users?: NamedUser[];
}

/**
 * A kubeconfig file's current context: client certificates, bearer tokens (inline or tokenFile), basic
 * auth, CA and TLS options. Users with `exec` or `auth-provider` throw NeedsAuthPlugin.
 */
export function kubeconfigConnection(path: string): KubeConnection {
  const text = readFileSync(path, 'utf8');
  const kc = (parse(text) ?? {}) as KubeconfigFile;
  const where = `kubeconfig ${path}`;
  const ctxName = kc['current-context'];
  const ctx =
    kc.contexts?.find((c) => c.name === ctxName)?.context ??
    (kc.contexts?.length === 1 ? kc.contexts[0].context : undefined);
  if (!ctx) throw new Error(`${where}: no current-context (set one with kubectl config use-context)`);
  const cluster = kc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`${where}: context names cluster "${ctx.cluster}", which has no server`);
  const user = kc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider'])
    throw new NeedsAuthPlugin(`${where}: user "${ctx.user}" authenticates with a plugin`);
  const base = dirname(path);
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : join(base, p));
  const data = (b64: string) => Buffer.from(b64, 'base64');
  const pick = (inline: string | undefined, fromFile: string | undefined) =>
    inline ? data(inline) : fromFile ? file(fromFile) : undefined;
  const token = user.token
    ? () => user.token!
    : user.tokenFile
      ? tokenFromFile(isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile))
      : undefined;
  const basic = user.username
    ? `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`
    : undefined;
  return {
    server: cluster.server,
    tls: {
      ca: pick(cluster['certificate-authority-data'], cluster['certificate-authority']),
      cert: pick(user['client-certificate-data'], user['client-certificate']),
      key: pick(user['client-key-data'], user['client-key']),
      ...(cluster['insecure-skip-tls-verify'] ? { rejectUnauthorized: false } : {}),
      ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    },
    headers: async (): Promise<Record<string, string>> =>
      token ? { authorization: `Bearer ${token()}` } : basic ? { authorization: basic } : {},
    source: where,
  };
}

/**
 * client-node's KubeConfig for what this module does not do itself (exec and auth-provider plugins).
 * Loaded only then: importing client-node costs ~75 MB of RSS, half the operator's budget.
 */
export async function clientNodeConnection(path: string | undefined): Promise<KubeConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  const first: RequestOptions = {};
  await kc.applyToHTTPSOptions(first);
  return {
    server: cluster.server,
    tls: {
      ca: first.ca,
      cert: first.cert,
      key: first.key,
      rejectUnauthorized: first.rejectUnauthorized,
      servername: first.servername,
    },
    headers: async () => {
      const o: RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(o);
      const h = (o.headers ?? {}) as Record<string, string>;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = String(v);
      if (o.auth) out.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
      return out;
    },
    source: `${path ?? 'default kubeconfig'} (client-node)`,
  };
}

/** --kubeconfig FILE, else $KUBECONFIG (its first file), else the Pod's service account, else ~/.kube/config. */
export async function loadKubeConnection(explicit?: string): Promise<KubeConnection> {
  const fromEnv = process.env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
  const home = join(homedir(), '.kube', 'config');
  const path = explicit ?? fromEnv;
  if (!path) {
    const inCluster = inClusterConnection();
    if (inCluster) return inCluster;
  }
  const file = path ?? (existsSync(home) ? home : undefined);
  if (!file) throw new Error('no Kubernetes API to talk to: pass --kubeconfig FILE, set KUBECONFIG, or run in a Pod');
  try {
    return kubeconfigConnection(file);
  } catch (err) {
    if (err instanceof NeedsAuthPlugin) return clientNodeConnection(file);
    throw err;
  }
}
