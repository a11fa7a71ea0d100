// A dynamic provisioner for the real node: a claim of the default StorageClass gets a hostPath
// volume in a dir of its own under the control plane's dir, pinned to the real node, and the dir
// goes when the released volume is deleted. What local-path-provisioner does, without the helper
// pods: this runs on the node's host, so it makes and removes the dirs itself.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KubeHttp } from './kube-http.js';

export const STORAGE_CLASS = 'safesquid-local';
export const PROVISIONER_NAME = 'safesquid.io/host-path';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

interface Claim {
  metadata: { name: string; namespace: string; uid: string };
  spec: {
    storageClassName?: string;
    volumeName?: string;
    accessModes?: string[];
    volumeMode?: string;
    resources?: { requests?: { storage?: string } };
  };
  status?: { phase?: string };
}
interface Volume {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { hostPath?: { path: string } };
  status?: { phase?: string };
}

export interface HostPathProvisioner {
  storageClass: string;
  close(): Promise<void>;
}

export interface ProvisionerOptions {
  /** Where volume dirs go. */
  dir: string;
  /** The node the volumes live on (their node affinity). */
  nodeName: string;
  intervalMs?: number;
  log?: (line: string) => void;
}

async function ensureStorageClass(api: KubeHttp): Promise<void> {
  const res = await api.send('POST', '/apis/storage.k8s.io/v1/storageclasses', {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: PROVISIONER_NAME,
    reclaimPolicy: 'Delete',
    // Immediate: a claim binds on its own (its pods then go where the volume is, the real node).
    volumeBindingMode: 'Immediate',
  });
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`creating StorageClass ${STORAGE_CLASS}: HTTP ${res.status} ${res.body}`);
}

/** One pass: volumes for pending claims of our class, released volumes deleted with their dirs. */
export async function provisionOnce(api: KubeHttp, opts: ProvisionerOptions): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const claims = JSON.parse((await api.send('GET', '/api/v1/persistentvolumeclaims')).body) as { items?: Claim[] };
  for (const c of claims.items ?? []) {
    if (c.spec.storageClassName !== STORAGE_CLASS || c.spec.volumeName || c.status?.phase !== 'Pending') continue;
    const name = `pvc-${c.metadata.uid}`;
    const path = join(opts.dir, `${c.metadata.namespace}_${c.metadata.name}_${c.metadata.uid}`);
    mkdirSync(path, { recursive: true });
    // Pods run as any UID (the product's as 65532): the volume is theirs to write.
    chmodSync(path, 0o777);
    const res = await api.send('POST', '/api/v1/persistentvolumes', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { [PROVISIONED_BY]: PROVISIONER_NAME } },
      spec: {
        capacity: { storage: c.spec.resources?.requests?.storage ?? '1Gi' },
        accessModes: c.spec.accessModes ?? ['ReadWriteOnce'],
        volumeMode: c.spec.volumeMode ?? 'Filesystem',
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: STORAGE_CLASS,
        hostPath: { path, type: 'Directory' },
        claimRef: {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          namespace: c.metadata.namespace,
          name: c.metadata.name,
          uid: c.metadata.uid,
        },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [opts.nodeName] }] },
            ],
          },
        },
      },
    });
    if (res.status === 201) log(`provisioned ${name} for ${c.metadata.namespace}/${c.metadata.name} at ${path}`);
    else if (res.status !== 409) log(`provisioning ${name}: HTTP ${res.status} ${res.body}`);
  }
  const volumes = JSON.parse((await api.send('GET', '/api/v1/persistentvolumes')).body) as { items?: Volume[] };
  for (const v of volumes.items ?? []) {
    if (v.metadata.annotations?.[PROVISIONED_BY] !== PROVISIONER_NAME) continue;
    if (v.status?.phase !== 'Released' && v.status?.phase !== 'Failed') continue;
    const path = v.spec.hostPath?.path;
    // Only ever a dir this provisioner made.
    if (path && resolve(path).startsWith(`${resolve(opts.dir)}/`)) rmSync(path, { recursive: true, force: true });
    const res = await api.send('DELETE', `/api/v1/persistentvolumes/${v.metadata.name}`);
    if (res.status === 200 || res.status === 202) log(`deleted released ${v.metadata.name}`);
  }
}

/** Creates the default StorageClass and provisions for it every `intervalMs` (500) until close(). */
export async function startHostPathProvisioner(api: KubeHttp, opts: ProvisionerOptions): Promise<HostPathProvisioner> {
  const log = opts.log ?? (() => undefined);
  mkdirSync(opts.dir, { recursive: true });
  await ensureStorageClass(api);
  let closed = false;
  let wake: (() => void) | null = null;
  const loop = (async () => {
    while (!closed) {
      try {
        await provisionOnce(api, opts);
      } catch (err) {
        log(`host-path provisioner: ${(err as Error).message}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, opts.intervalMs ?? 500);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  return {
    storageClass: STORAGE_CLASS,
    async close() {
      closed = true;
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
