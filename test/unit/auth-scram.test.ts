// SCRAM-SHA-256 primitives, SASLprep and PostgreSQL's stored verifier format, checked against secrets a real PostgreSQL 15 made.

import { describe, expect, it } from 'vitest';
import {
  buildAuthMessage,
  buildScramVerifier,
  decodeBase64Strict,
  decodeSaslName,
  deriveScramKeys,
  encodeSaslName,
  formatScramVerifier,
  hi,
  hmacSha256,
  parseScramAttributes,
  parseScramVerifier,
  preparePassword,
  verifyScramPassword,
  xorBuffers,
} from '../../proxy/auth/scram.js';

/**
 * Produced once by PostgreSQL 15.18 (initdb -E UTF8, password_encryption = scram-sha-256):
 *   CREATE ROLE x PASSWORD 'p';
 *   CREATE ROLE nbsp PASSWORD E'pass\u00A0word';
 *   CREATE ROLE priv PASSWORD E'a\uE000b';
 *   CREATE ROLE mixed PASSWORD E'pass\u00A0word\uE000';
 *   CREATE ROLE shy PASSWORD E'\u00AD';
 *   CREATE ROLE roman PASSWORD E'\u2168';
 *   SELECT rolpassword FROM pg_authid;
 */
const PG_VERIFIER_P =
  'SCRAM-SHA-256$4096:ILpvWjZXzWCdCJXj+y899g==$G6My2lg+VDSHmnvm8d1RwyOyYpAkxqRo4bFN2UU4Spc=:x8qPv9E6zzN0m3wgeRF9Hh/JjqNXgooi3DoymLWeKAw=';
const PG_VERIFIER_NBSP =
  'SCRAM-SHA-256$4096:Mv/XD6hwhTVvHTQugEJkWg==$wVZeWrCeVUEKaWVxCji7lodqOiKQc+c4V+2hTrRKnIg=:BnLvzftScyS7kxwichf7age0Ap3UabT/IJq9d2CTy5Y=';
const PG_VERIFIER_PRIVATE_USE =
  'SCRAM-SHA-256$4096:7Fp07PJbguqi+A7ClUScog==$XB9WnNlr6o9S/8ZiyYblWgOXHxmpB9NdOVuaQKD6eiY=:HhAvJLiqizkKunAAD0b60K5q88/HxyaFRrxbW4F/yjQ=';
const PG_VERIFIER_SPACE_AND_PROHIBITED =
  'SCRAM-SHA-256$4096:5Onm2wuGFGZ16zOJEUsnAw==$mPGn/A/6xR4tKGwuvC406VMYQcoiXyIPvVdid8+Pdbs=:ZAdCg+9Jpq66uAjhRTyosTs/9WHVm+2wrEX2mIVNu2Y=';
const PG_VERIFIER_SOFT_HYPHEN =
  'SCRAM-SHA-256$4096:go4QZVh8e3MpLoMOueeT1w==$lY0RQME2kd1Vgnlqs3eX/8vGBeueFN/Z9auBjB1K4WY=:EDZEZP0nSpZMOM44crjqOT7eREjkZc7T1PvdL0AgPHY=';
const PG_VERIFIER_ROMAN_NINE =
  'SCRAM-SHA-256$4096:Zp7/IutZbLbWg76je8bvHA==$eTAgZyvYAxd0+EMnUKkJdefzkRw1FkR4LYjrvjjeCKU=:5vX3YcaJhZFZ/GcXUUZSNseWqhUGDIa9Z3ImN391onk=';

function rebuildWithSaltOf(pgVerifier: string, password: string): string {
  const parsed = parseScramVerifier(pgVerifier)!;
  return formatScramVerifier(
    buildScramVerifier(password, { salt: parsed.salt, iterations: parsed.iterations }),
  );
}

describe('SCRAM primitives', () => {
  it('computes Hi as PBKDF2-HMAC-SHA-256 matching the RFC 7914 section 11 test vector', () => {
    const derived = hi(Buffer.from('passwd'), Buffer.from('salt'), 1);
    expect(derived.toString('hex')).toBe('55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc');
  });

  it('derives keys whose proof and signature are those of the RFC 7677 section 3 example', () => {
    const keys = deriveScramKeys(
      Buffer.from('pencil'),
      Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
      4096,
    );
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = buildAuthMessage(
      Buffer.from('n=user,r=rOprNGfwEbeRWgbNEkqO'),
      Buffer.from(`r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`),
      Buffer.from(`c=biws,r=${nonce}`),
    );
    const proof = xorBuffers(keys.clientKey, hmacSha256(keys.storedKey, authMessage));
    expect(proof.toString('base64')).toBe('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(hmacSha256(keys.serverKey, authMessage).toString('base64')).toBe(
      '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    );
  });

  it('xors two buffers byte by byte', () => {
    expect(xorBuffers(Buffer.from([0xf0, 0x0f]), Buffer.from([0xff, 0xff]))).toEqual(
      Buffer.from([0x0f, 0xf0]),
    );
  });

  it('refuses to xor buffers of different lengths', () => {
    expect(() => xorBuffers(Buffer.alloc(1), Buffer.alloc(2))).toThrow(RangeError);
  });

  it('rejects base64 with characters outside the alphabet that Buffer.from would skip', () => {
    expect(decodeBase64Strict('ab!d')).toBeUndefined();
    expect(decodeBase64Strict('abc')).toBeUndefined();
    expect(decodeBase64Strict('YWJj')).toEqual(Buffer.from('abc'));
  });

  it('parses attributes in order, keeping = inside values', () => {
    const parsed = parseScramAttributes('r=abc,s=QSXCR+Q6sek8bf92==,i=4096');
    expect(parsed).toEqual({
      ok: true,
      attributes: [
        { name: 'r', value: 'abc' },
        { name: 's', value: 'QSXCR+Q6sek8bf92==' },
        { name: 'i', value: '4096' },
      ],
    });
  });

  it('rejects an attribute without a name or without =', () => {
    expect(parseScramAttributes('r=abc,,i=1').ok).toBe(false);
    expect(parseScramAttributes('r=abc,i').ok).toBe(false);
    expect(parseScramAttributes('1=abc').ok).toBe(false);
  });

  it('escapes commas and equals signs in SASL names and reverses the escaping', () => {
    expect(encodeSaslName('a,b=c')).toBe('a=2Cb=3Dc');
    expect(decodeSaslName('a=2Cb=3Dc')).toBe('a,b=c');
    expect(decodeSaslName('a=2Xb')).toBeUndefined();
  });
});

describe('stored SCRAM verifiers', () => {
  it('rebuilds the exact verifier PostgreSQL stored for the same password and salt', () => {
    expect(rebuildWithSaltOf(PG_VERIFIER_P, 'p')).toBe(PG_VERIFIER_P);
  });

  it('accepts the right plaintext password against a PostgreSQL verifier', () => {
    expect(verifyScramPassword('p', parseScramVerifier(PG_VERIFIER_P)!)).toBe(true);
  });

  it('rejects a wrong plaintext password against a PostgreSQL verifier', () => {
    expect(verifyScramPassword('q', parseScramVerifier(PG_VERIFIER_P)!)).toBe(false);
  });

  it('round-trips a parsed verifier through formatting unchanged', () => {
    expect(formatScramVerifier(parseScramVerifier(PG_VERIFIER_NBSP)!)).toBe(PG_VERIFIER_NBSP);
  });

  it('builds a verifier with a fresh 16-byte salt and 4096 iterations by default', () => {
    const verifier = buildScramVerifier('secret');
    expect(verifier.salt).toHaveLength(16);
    expect(verifier.iterations).toBe(4096);
    expect(buildScramVerifier('secret').salt.equals(verifier.salt)).toBe(false);
  });

  it('draws the salt from the injected random source', () => {
    const verifier = buildScramVerifier('secret', { randomBytes: (n) => Buffer.alloc(n, 7) });
    expect(verifier.salt).toEqual(Buffer.alloc(16, 7));
  });

  it('does not parse md5 hashes, plaintext, or verifiers with bad fields', () => {
    expect(parseScramVerifier('md5b52328d7451bfeace80c4b8c338106f9')).toBeUndefined();
    expect(parseScramVerifier('p')).toBeUndefined();
    expect(parseScramVerifier(PG_VERIFIER_P.replace('4096', '0'))).toBeUndefined();
    expect(parseScramVerifier(PG_VERIFIER_P.replace('$4096', '$x'))).toBeUndefined();
    expect(parseScramVerifier(PG_VERIFIER_P.slice(0, -4))).toBeUndefined();
  });
});

describe('SASLprep of passwords', () => {
  it('maps a non-ASCII space (U+00A0) to an ASCII space', () => {
    expect(preparePassword('pass\u00a0word').toString('utf8')).toBe('pass word');
  });

  it('matches the verifier PostgreSQL built for a password containing U+00A0', () => {
    expect(rebuildWithSaltOf(PG_VERIFIER_NBSP, 'pass\u00a0word')).toBe(PG_VERIFIER_NBSP);
  });

  it('uses the raw bytes when the password contains a prohibited character (U+E000)', () => {
    expect(preparePassword('a\ue000b')).toEqual(Buffer.from('a\ue000b', 'utf8'));
  });

  it('matches the verifier PostgreSQL built for a password with a prohibited character', () => {
    expect(rebuildWithSaltOf(PG_VERIFIER_PRIVATE_USE, 'a\ue000b')).toBe(PG_VERIFIER_PRIVATE_USE);
  });

  it('leaves U+00A0 unmapped when a prohibited character makes PostgreSQL fall back to the raw password', () => {
    const password = 'pass\u00a0word\ue000';
    expect(preparePassword(password)).toEqual(Buffer.from(password, 'utf8'));
    expect(rebuildWithSaltOf(PG_VERIFIER_SPACE_AND_PROHIBITED, password)).toBe(
      PG_VERIFIER_SPACE_AND_PROHIBITED,
    );
  });

  it('passes pure ASCII through untouched, control characters included', () => {
    expect(preparePassword('a\u0007b')).toEqual(Buffer.from('a\u0007b'));
  });

  it('uses the raw bytes of a password that is not valid UTF-8', () => {
    const latin1 = Buffer.from([0x70, 0xe9, 0x70]);
    expect(preparePassword(latin1)).toEqual(latin1);
  });

  it('uses the raw bytes of a password that SASLprep maps to nothing (soft hyphen), as PostgreSQL does', () => {
    expect(preparePassword('\u00ad')).toEqual(Buffer.from('\u00ad', 'utf8'));
    expect(rebuildWithSaltOf(PG_VERIFIER_SOFT_HYPHEN, '\u00ad')).toBe(PG_VERIFIER_SOFT_HYPHEN);
  });

  it('applies NFKC normalisation (U+2168 ROMAN NUMERAL NINE becomes IX) as PostgreSQL does', () => {
    expect(preparePassword('\u2168').toString('utf8')).toBe('IX');
    expect(rebuildWithSaltOf(PG_VERIFIER_ROMAN_NINE, '\u2168')).toBe(PG_VERIFIER_ROMAN_NINE);
  });
});
