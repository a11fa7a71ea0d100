import { createHash } from 'node:crypto';
import type { KubeClient, KubeObject } from './client.js';
import { objectPath, resourceOf } from './resources.js';

export const FIELD_MANAGER = 'safesquid-operator';
/** On each applied object: the hash of what the operator last applied, so a change of intent (a field
 * dropped from the desired object, which a subset check cannot see) is applied even when the live
 * object still looks right. */
export const APPLIED_HASH_ANNOTATION = 'safesquid.io/applied-hash';

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

const QUANTITY = /^([+-]?\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** "500m" and "0.5", "1Gi" and "1073741824": the API server canonicalises quantities it stores. */
export function sameQuantity(a: string, b: string): boolean {
  const ma = QUANTITY.exec(a);
  const mb = QUANTITY.exec(b);
  if (!ma || !mb) return false;
  const va = Number(ma[1]) * SUFFIX[ma[2] ?? ''];
  const vb = Number(mb[1]) * SUFFIX[mb[2] ?? ''];
  return Math.abs(va - vb) <= Math.abs(va) * 1e-12;
}

/**
 * True when every field of `desired` has the same value in `live` (fields the API server or other
 * controllers added to `live` do not count). Lists must have the same length and match element by
 * element: an extra container or port someone added by hand is drift.
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null) return live === null || live === undefined;
  if (Array.isArray(desired)) {
    // The server drops an empty list it was sent (env: []).
    if (desired.length === 0 && (live === undefined || live === null)) return true;
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    return desired.every((d, i) => isSubset(d, live[i]));
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) {
      // An empty object the server drops ({} for emptyDir, securityContext) is still "the same".
      return Object.keys(desired).length === 0 && (live === undefined || live === null);
    }
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) =>
      isSubset(v, (live as Record<string, unknown>)[k]),
    );
  }
  if (desired === live) return true;
  if (typeof desired === 'string' && typeof live === 'string') return sameQuantity(desired, live);
  return false;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function intentHash(obj: KubeObject): string {
  return createHash('sha256').update(canonical(obj)).digest('hex').slice(0, 16);
}

/**
 * What the operator sends: the builder's object with Secret stringData folded into data (stringData
 * is write-only, so a live Secret could never be compared with it) and the intent hash annotated.
 */
export function prepareForApply(desired: KubeObject): KubeObject {
  let obj: KubeObject = structuredClone(desired);
  if (obj.kind === 'Secret' && obj.stringData && typeof obj.stringData === 'object') {
    const data: Record<string, string> = { ...((obj.data as Record<string, string>) ?? {}) };
    for (const [k, v] of Object.entries(obj.stringData as Record<string, string>))
      data[k] = Buffer.from(v, 'utf8').toString('base64');
    const { stringData: _drop, ...rest } = obj;
    obj = { ...rest, data };
  }
  const hash = intentHash(obj);
  obj.metadata = { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash } };
  return obj;
}

/** True when applying `prepared` to `live` would change nothing the operator cares about. */
export function upToDate(prepared: KubeObject, live: KubeObject | undefined): boolean {
  if (!live || live.metadata?.deletionTimestamp) return false;
  if (
    live.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] !== prepared.metadata?.annotations?.[APPLIED_HASH_ANNOTATION]
  )
    return false;
  return isSubset(prepared, live);
}

/**
 * Server-side apply of `desired` (one field manager, forced: the operator owns what it applies),
 * skipped when the live object already matches: an unchanged cluster costs no write.
 */
export async function applyIfChanged(
  client: KubeClient,
  desired: KubeObject,
  live: KubeObject | undefined,
): Promise<{ outcome: ApplyOutcome; object: KubeObject }> {
  const prepared = prepareForApply(desired);
  if (live && upToDate(prepared, live)) return { outcome: 'unchanged', object: live };
  const r = resourceOf(prepared);
  const m = prepared.metadata ?? {};
  if (!m.name) throw new Error(`${prepared.kind} without metadata.name cannot be applied`);
  const object = await client.request('PATCH', objectPath(r, m.namespace, m.name), {
    query: { fieldManager: FIELD_MANAGER, force: true },
    contentType: 'application/apply-patch+yaml',
    body: prepared,
  });
  return { outcome: live ? 'updated' : 'created', object };
}
