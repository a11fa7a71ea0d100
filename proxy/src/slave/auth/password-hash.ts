import { HashWorkerPool, type HashKind } from './hash-worker-pool.js';

export type { HashKind };

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** Which supported algorithm a stored hash uses, or undefined when it is none of them. */
export function hashKind(hash: string): HashKind | undefined {
  if (BCRYPT.test(hash)) return 'bcrypt';
  if (ARGON2.test(hash)) return 'argon2';
  return undefined;
}

let pool: HashWorkerPool | undefined;

/** Verifies a password against a bcrypt or argon2 hash, off the event loop. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const kind = hashKind(hash);
  if (!kind) return false;
  pool ??= new HashWorkerPool();
  return pool.verify(kind, password, hash);
}
