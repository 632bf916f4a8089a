// PostgreSQL md5 password hashes and challenge responses, checked against values PostgreSQL 15 computed.

import { describe, expect, it } from 'vitest';
import {
  isMd5Hash,
  md5PasswordHash,
  md5Response,
  verifyMd5Password,
  verifyMd5Response,
} from '../../proxy/auth/md5.js';

/** SET password_encryption = 'md5'; CREATE ROLE m PASSWORD 'secret'; SELECT rolpassword FROM pg_authid (PostgreSQL 15.18). */
const PG_HASH_M_SECRET = 'md5b52328d7451bfeace80c4b8c338106f9';
/**
 * The response PostgreSQL expects for salt 01 02 03 04, computed by PostgreSQL itself:
 * SELECT 'md5' || md5(convert_to(substr(rolpassword, 4), 'UTF8') || '\x01020304'::bytea) FROM pg_authid WHERE rolname = 'm'.
 * (A raw client built on md5Response also logged in as m against that server.)
 */
const PG_RESPONSE_SALT_01020304 = 'md5b441c8c79190ee049d2b529b74d69aa7';
const SALT = Buffer.from([1, 2, 3, 4]);

describe('md5 password hashes', () => {
  it('hashes password and user name exactly as PostgreSQL stores them', () => {
    expect(md5PasswordHash('m', 'secret')).toBe(PG_HASH_M_SECRET);
  });

  it('salts the hash with the user name, so another user gets another hash', () => {
    expect(md5PasswordHash('n', 'secret')).not.toBe(PG_HASH_M_SECRET);
  });

  it('recognises stored md5 hashes and nothing else', () => {
    expect(isMd5Hash(PG_HASH_M_SECRET)).toBe(true);
    expect(isMd5Hash('secret')).toBe(false);
    expect(isMd5Hash('SCRAM-SHA-256$4096:x$y:z')).toBe(false);
  });
});

describe('md5 challenge responses', () => {
  it('computes the response PostgreSQL expects from the password', () => {
    expect(md5Response({ user: 'm', password: 'secret' }, SALT)).toBe(PG_RESPONSE_SALT_01020304);
  });

  it('computes the same response from the stored hash alone', () => {
    expect(md5Response({ storedHash: PG_HASH_M_SECRET }, SALT)).toBe(PG_RESPONSE_SALT_01020304);
  });

  it('refuses a salt that is not 4 bytes', () => {
    expect(() => md5Response({ storedHash: PG_HASH_M_SECRET }, Buffer.alloc(3))).toThrow(RangeError);
  });
});

describe('server-side md5 verification', () => {
  it('accepts the right response against a stored hash', () => {
    const secret = { kind: 'md5', hash: PG_HASH_M_SECRET } as const;
    expect(verifyMd5Response({ user: 'm', secret, salt: SALT, response: PG_RESPONSE_SALT_01020304 })).toBe(
      true,
    );
  });

  it('accepts the right response against a plaintext password', () => {
    const secret = { kind: 'plaintext', password: 'secret' } as const;
    expect(verifyMd5Response({ user: 'm', secret, salt: SALT, response: PG_RESPONSE_SALT_01020304 })).toBe(
      true,
    );
  });

  it('rejects a response computed for another salt', () => {
    const secret = { kind: 'md5', hash: PG_HASH_M_SECRET } as const;
    const response = md5Response({ storedHash: PG_HASH_M_SECRET }, Buffer.from([4, 3, 2, 1]));
    expect(verifyMd5Response({ user: 'm', secret, salt: SALT, response })).toBe(false);
  });

  it('rejects a response from a wrong password', () => {
    const secret = { kind: 'plaintext', password: 'secret' } as const;
    const response = md5Response({ user: 'm', password: 'Secret' }, SALT);
    expect(verifyMd5Response({ user: 'm', secret, salt: SALT, response })).toBe(false);
  });

  it('rejects a response of the wrong length without throwing', () => {
    const secret = { kind: 'md5', hash: PG_HASH_M_SECRET } as const;
    expect(verifyMd5Response({ user: 'm', secret, salt: SALT, response: 'md5' })).toBe(false);
  });

  it('never verifies against a secret that is not an md5 hash', () => {
    const secret = { kind: 'md5', hash: 'SCRAM-SHA-256$4096:abc' } as const;
    expect(verifyMd5Response({ user: 'm', secret, salt: SALT, response: PG_RESPONSE_SALT_01020304 })).toBe(
      false,
    );
  });

  it('checks a plaintext password against a stored hash', () => {
    expect(verifyMd5Password('m', 'secret', PG_HASH_M_SECRET)).toBe(true);
    expect(verifyMd5Password('m', 'wrong', PG_HASH_M_SECRET)).toBe(false);
  });
});
