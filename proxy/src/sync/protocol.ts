/**
 * The wire contract between a slave's policy client and the master's portal:
 * header names and limits both ends must agree on.
 */
export const SLAVE_HEADER = 'x-safesquid-slave';
export const VERSION_HEADER = 'x-safesquid-version';
export const POLICY_HASH_HEADER = 'x-safesquid-policy-hash';
export const TIME_HEADER = 'x-safesquid-time';

/** The longest a long-poll may be held open by the master. */
export const MAX_WAIT_SECONDS = 60;

export type SyncEventKind = 'applied' | 'refused' | 'unreachable' | 'recovered';
export const SYNC_EVENT_KINDS: readonly SyncEventKind[] = ['applied', 'refused', 'unreachable', 'recovered'];

export interface SyncEvent {
  /** Epoch milliseconds, in the slave's clock. */
  time: number;
  kind: SyncEventKind;
  detail: string;
}

/** Slave names become URL path segments and registry keys: keep them to DNS-label-like names. */
export const SLAVE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** `"abc"` or `W/"abc"` → `abc`; what an ETag header carries is the bundle hash. */
export function unquoteEtag(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^(?:W\/)?"([^"]*)"$/.exec(value.trim());
  return m ? m[1] : value.trim();
}
