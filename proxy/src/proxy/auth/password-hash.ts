import bcrypt from 'bcryptjs';
import { argon2Verify } from 'hash-wasm';

export type HashKind = 'bcrypt' | 'argon2';

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** Which supported algorithm a stored hash uses, or undefined when it is none of them. */
export function hashKind(hash: string): HashKind | undefined {
  if (BCRYPT.test(hash)) return 'bcrypt';
  if (ARGON2.test(hash)) return 'argon2';
  return undefined;
}

/** Constant-work verification of a password against a bcrypt or argon2 hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case 'bcrypt':
      return bcrypt.compare(password, hash);
    case 'argon2':
      return argon2Verify({ password, hash });
    default:
      return false;
  }
}
