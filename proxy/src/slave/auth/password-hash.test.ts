import bcrypt from 'bcryptjs';
import { argon2id, argon2i } from 'hash-wasm';
import { randomBytes } from 'node:crypto';
import { hashKind, verifyPassword } from './password-hash.js';

const argon = (password: string, fn = argon2id) =>
  fn({
    password,
    salt: randomBytes(16),
    parallelism: 1,
    iterations: 2,
    memorySize: 256,
    hashLength: 32,
    outputType: 'encoded',
  });

describe('verifyPassword', () => {
  it('verifies bcrypt hashes of every prefix', async () => {
    const hash = bcrypt.hashSync('correct horse', 4);
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const variant = prefix + hash.slice(4);
      expect(hashKind(variant)).toBe('bcrypt');
      await expect(verifyPassword('correct horse', variant)).resolves.toBe(true);
      await expect(verifyPassword('correct horsE', variant)).resolves.toBe(false);
    }
  });

  it('verifies argon2id and argon2i hashes', async () => {
    for (const fn of [argon2id, argon2i]) {
      const hash = await argon('s3cret', fn);
      expect(hashKind(hash)).toBe('argon2');
      await expect(verifyPassword('s3cret', hash)).resolves.toBe(true);
      await expect(verifyPassword('s3creT', hash)).resolves.toBe(false);
    }
  });

  it('refuses what is not a supported hash, including plain text and MD5-crypt', async () => {
    for (const hash of ['s3cret', '$apr1$abc$def', '{SHA}abc=', '$2b$04$short', '']) {
      expect(hashKind(hash)).toBeUndefined();
      await expect(verifyPassword(hash, hash)).resolves.toBe(false);
    }
  });
});
