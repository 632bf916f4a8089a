// PostgreSQL's md5 password scheme: stored hashes, the salted challenge response, and verifying a response.

import { createHash } from 'node:crypto';
import { isEqualConstantTime } from './constant-time.js';

/** Length of the salt in AuthenticationMD5Password. */
export const MD5_SALT_LENGTH = 4;

const MD5_HASH = /^md5[0-9a-f]{32}$/;

function md5Hex(...parts: Buffer[]): string {
  return createHash('md5').update(Buffer.concat(parts)).digest('hex');
}

/** True when text is a stored md5 hash ('md5' and 32 lowercase hex digits), as PostgreSQL's get_password_type checks. */
export function isMd5Hash(text: string): boolean {
  return MD5_HASH.test(text);
}

/**
 * The hash PostgreSQL stores in pg_authid.rolpassword for password_encryption = md5:
 * 'md5' + md5(password || user name), the user name acting as salt (pg_md5_encrypt).
 * Strings are taken as UTF-8; pass Buffers to hash other encodings byte for byte.
 */
export function md5PasswordHash(user: string | Buffer, password: string | Buffer): string {
  return 'md5' + md5Hex(toBytes(password), toBytes(user));
}

/** What md5Response needs: the plaintext password and user, or the stored hash. */
export type Md5Credential = { user: string | Buffer; password: string | Buffer } | { storedHash: string };

/**
 * The PasswordMessage a client sends after AuthenticationMD5Password:
 * 'md5' + md5(md5hex(password || user) || salt). From a stored hash the first step is already done,
 * which is why a stored md5 hash is as good as the password for logging in.
 */
export function md5Response(credential: Md5Credential, salt: Buffer): string {
  if (salt.length !== MD5_SALT_LENGTH) throw new RangeError(`md5 salt must be ${MD5_SALT_LENGTH} bytes`);
  const hash =
    'storedHash' in credential
      ? credential.storedHash
      : md5PasswordHash(credential.user, credential.password);
  if (!isMd5Hash(hash)) throw new RangeError('not a PostgreSQL md5 password hash');
  return 'md5' + md5Hex(Buffer.from(hash.slice(3), 'ascii'), salt);
}

/** What the server knows about the role: its plaintext password, or its stored md5 hash. */
export type Md5Secret = { kind: 'plaintext'; password: string | Buffer } | { kind: 'md5'; hash: string };

export interface VerifyMd5Input {
  /** The user from the startup packet: the md5 salt of the stored hash. */
  user: string | Buffer;
  secret: Md5Secret;
  /** The 4-byte salt the server sent in AuthenticationMD5Password. */
  salt: Buffer;
  /** The client's PasswordMessage contents, without the terminating NUL. */
  response: string | Buffer;
}

/**
 * Server-side check of an md5 response (PostgreSQL's md5_crypt_verify), in constant time.
 * A secret that is not a valid md5 hash never verifies.
 */
export function verifyMd5Response(input: VerifyMd5Input): boolean {
  const storedHash =
    input.secret.kind === 'md5' ? input.secret.hash : md5PasswordHash(input.user, input.secret.password);
  if (!isMd5Hash(storedHash) || input.salt.length !== MD5_SALT_LENGTH) return false;
  const expected = Buffer.from(md5Response({ storedHash }, input.salt), 'ascii');
  return isEqualConstantTime(expected, toBytes(input.response));
}

/**
 * Checks a plaintext password (the `password` auth method) against a stored md5 hash,
 * as PostgreSQL's plain_crypt_verify does, in constant time.
 */
export function verifyMd5Password(
  user: string | Buffer,
  password: string | Buffer,
  storedHash: string,
): boolean {
  if (!isMd5Hash(storedHash)) return false;
  return isEqualConstantTime(
    Buffer.from(storedHash, 'ascii'),
    Buffer.from(md5PasswordHash(user, password), 'ascii'),
  );
}

function toBytes(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}
