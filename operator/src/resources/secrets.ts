/**
 * The cluster's generated Secrets: `<name>-sync-token` (key `token`, the cluster token slaves
 * present to the master) and `<name>-admin` (keys `password` and `token`, the master's web UI
 * password and API bearer token). Values come from the caller: the controller generates them
 * once and passes the stored ones back on every reconcile, so they never change under a running
 * cluster. A spec that names an existing Secret (`master.syncTokenSecretRef`, `master.adminSecretRef`)
 * gets no generated one.
 */
import { randomBytes } from 'node:crypto';
import { childNames, metadata, type ClusterRef, type KubernetesObject } from './common.js';

export interface SecretValues {
  syncToken?: string;
  adminPassword?: string;
  adminToken?: string;
}

/** The Secrets (and keys) the pods read: generated ones or those the spec names. */
export function secretRefs(cluster: ClusterRef) {
  const names = childNames(cluster.metadata.name);
  return {
    syncToken: { name: cluster.spec.master.syncTokenSecretRef?.name ?? names.syncTokenSecret, key: 'token' },
    admin: {
      name: cluster.spec.master.adminSecretRef?.name ?? names.adminSecret,
      passwordKey: 'password',
      tokenKey: 'token',
    },
  };
}

/** Which Secrets the operator must generate for this spec. */
export function generatedSecretNames(cluster: ClusterRef): { syncToken?: string; admin?: string } {
  const names = childNames(cluster.metadata.name);
  return {
    ...(cluster.spec.master.syncTokenSecretRef ? {} : { syncToken: names.syncTokenSecret }),
    ...(cluster.spec.master.adminSecretRef ? {} : { admin: names.adminSecret }),
  };
}

/** 32 random bytes as base64url: for a new token or password (the only impure helper here). */
export function generateSecretValue(): string {
  return randomBytes(32).toString('base64url');
}

function secret(cluster: ClusterRef, name: string, stringData: Record<string, string>): KubernetesObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: metadata(cluster, name, 'master'), type: 'Opaque', stringData };
}

function required(value: string | undefined, what: string): string {
  if (!value)
    throw new Error(
      `buildSecrets: ${what} is required (generate it once with generateSecretValue() and pass the stored value on every reconcile)`,
    );
  return value;
}

/** The generated Secrets this cluster needs (none when the spec names existing ones). */
export function buildSecrets(cluster: ClusterRef, values: SecretValues): KubernetesObject[] {
  const wanted = generatedSecretNames(cluster);
  const out: KubernetesObject[] = [];
  if (wanted.syncToken) out.push(secret(cluster, wanted.syncToken, { token: required(values.syncToken, 'syncToken') }));
  if (wanted.admin) {
    out.push(
      secret(cluster, wanted.admin, {
        password: required(values.adminPassword, 'adminPassword'),
        token: required(values.adminToken, 'adminToken'),
      }),
    );
  }
  return out;
}
