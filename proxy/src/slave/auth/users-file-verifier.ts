import type { BasicCredentials } from './basic-credentials.js';
import type { CredentialVerifier, VerifyOutcome } from './credential-verifier.js';
import { verifyPassword } from './password-hash.js';
import type { UsersFileStore } from './users-file.js';

export class UsersFileVerifier implements CredentialVerifier {
  readonly name: string;

  constructor(
    private readonly store: UsersFileStore,
    private readonly opts: { decoyForUnknown?: boolean } = {},
  ) {
    this.name = `users file ${store.file}`;
  }

  async verify({ user, password }: BasicCredentials): Promise<VerifyOutcome> {
    const entry = this.store.get(user);
    if (!entry) {
      // Spend what a known user's check costs, so the answer's timing does not tell names apart.
      const decoy = this.opts.decoyForUnknown ? this.store.anyHash() : undefined;
      if (decoy) await verifyPassword(password, decoy);
      return { kind: 'unknown' };
    }
    if (await verifyPassword(password, entry.hash)) return { kind: 'ok', user, groups: [...entry.groups] };
    return { kind: 'rejected', detail: 'wrong password' };
  }

  async close(): Promise<void> {
    this.store.close();
  }
}
