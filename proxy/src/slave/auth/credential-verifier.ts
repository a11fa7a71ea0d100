import type { BasicCredentials } from './basic-credentials.js';

/**
 * One back end that checks credentials. `unknown` lets the next back end try (a users file
 * before LDAP); `error` means the back end could not answer, which is never cached.
 */
export type VerifyOutcome =
  | { kind: 'ok'; user: string; groups: string[] }
  | { kind: 'rejected'; detail: string }
  | { kind: 'unknown' }
  | { kind: 'error'; detail: string };

export interface CredentialVerifier {
  readonly name: string;
  verify(credentials: BasicCredentials): Promise<VerifyOutcome>;
  close?(): Promise<void>;
}
