// SCRAM-SHA-256 primitives (RFC 5802, RFC 7677), SASLprep as PostgreSQL applies it, and PostgreSQL's stored verifier format.

import { createHash, createHmac, randomBytes as cryptoRandomBytes, pbkdf2Sync } from 'node:crypto';
import saslprep from 'saslprep';
import { isEqualConstantTime } from './constant-time.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';
/** The only channel-binding type PostgreSQL implements (RFC 5929 section 4). */
export const TLS_SERVER_END_POINT = 'tls-server-end-point';
/** SHA-256 output length; also the length of every SCRAM key, proof and signature. */
export const SCRAM_KEY_LENGTH = 32;
/** PostgreSQL's default `scram_iterations` (src/include/common/scram-common.h). */
export const DEFAULT_SCRAM_ITERATIONS = 4096;
/** PostgreSQL's SCRAM_DEFAULT_SALT_LEN. */
export const DEFAULT_SALT_LENGTH = 16;
/** PostgreSQL's SCRAM_RAW_NONCE_LEN: nonces are this many random bytes, base64-encoded. */
export const RAW_NONCE_LENGTH = 18;

/** Source of random bytes; injectable so tests can replay fixed exchanges. */
export type RandomBytes = (size: number) => Buffer;

/** H(str) of RFC 5802 section 2.2 for SCRAM-SHA-256. */
export function hashSha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** HMAC(key, str) of RFC 5802 section 2.2 for SCRAM-SHA-256. */
export function hmacSha256(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Hi(str, salt, i) of RFC 5802 section 2.2: PBKDF2 with HMAC-SHA-256 and one output block. */
export function hi(password: Buffer, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(password, salt, iterations, SCRAM_KEY_LENGTH, 'sha256');
}

/** Bytewise exclusive-or of two equally long buffers. */
export function xorBuffers(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length)
    throw new RangeError(`cannot xor buffers of lengths ${a.length} and ${b.length}`);
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * A fresh nonce: base64 of random bytes, like PostgreSQL's server and libpq do. Base64 output is
 * always "printable" in the RFC 5802 sense (no commas).
 */
export function createNonce(randomBytes: RandomBytes = cryptoRandomBytes, size = RAW_NONCE_LENGTH): string {
  return randomBytes(size).toString('base64');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes canonical, padded base64 or returns undefined. Buffer.from(..., 'base64') silently skips
 * invalid characters, which would let a malformed proof or salt through, hence this check first.
 */
export function decodeBase64Strict(text: string): Buffer | undefined {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

/** One `name=value` pair of a SCRAM message (RFC 5802 section 5.1). */
export interface ScramAttribute {
  name: string;
  value: string;
}

export type ParseAttributesResult =
  | { ok: true; attributes: ScramAttribute[] }
  | { ok: false; detail: string };

/**
 * Splits a SCRAM message into its attributes, in order. RFC 5802 `attr-val = ALPHA "=" value`;
 * values may be empty (libpq sends `n=`), may contain '=' (base64 padding) but never ','.
 * The order and meaning of attributes is checked by the caller, which knows the message.
 */
export function parseScramAttributes(text: string): ParseAttributesResult {
  if (text.length === 0) return { ok: true, attributes: [] };
  const attributes: ScramAttribute[] = [];
  for (const part of text.split(',')) {
    const name = part[0];
    if (name === undefined || !/^[A-Za-z]$/.test(name)) {
      return { ok: false, detail: `Attribute expected, but found invalid character "${name ?? ''}".` };
    }
    if (part[1] !== '=') return { ok: false, detail: `Expected character "=" for attribute "${name}".` };
    attributes.push({ name, value: part.slice(2) });
  }
  return { ok: true, attributes };
}

/** Joins attributes back into a SCRAM message. */
export function formatScramAttributes(attributes: readonly ScramAttribute[]): string {
  return attributes.map((a) => `${a.name}=${a.value}`).join(',');
}

/** RFC 5802 `saslname`: ',' and '=' in a user name are escaped as =2C and =3D. */
export function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** Reverses encodeSaslName; undefined when an '=' is not followed by 2C or 3D (RFC 5802 section 5.1). */
export function decodeSaslName(value: string): string | undefined {
  if (/=(?!2C|3D)/.test(value)) return undefined;
  return value.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** RFC 5802 `printable = %x21-2B / %x2D-7E`: the characters a nonce may hold. */
export function isScramPrintable(text: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]*$/.test(text);
}

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

/**
 * The password bytes SCRAM hashes, prepared as PostgreSQL's pg_saslprep (src/common/saslprep.c) and
 * its callers do: pure ASCII is used as is, without any processing; otherwise RFC 4013 SASLprep is
 * applied, and when that fails -- the bytes are not valid UTF-8, the result would contain prohibited
 * or unassigned code points or break the bidi rules, or the password maps to nothing at all --
 * the raw bytes are used instead ("just proceed with the original password", pg_be_scram_build_secret
 * and libpq's scram_init). That fallback matters: PostgreSQL accepts such passwords, so must we.
 * Known divergence: pg_saslprep tests the prohibited tables against the mapped but not yet
 * NFKC-normalised characters, the saslprep package against the normalised ones; only characters whose
 * compatibility decomposition crosses that line behave differently.
 */
export function preparePassword(password: string | Buffer): Buffer {
  const raw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (raw.every((byte) => byte < 0x80)) return raw;
  let text: string;
  try {
    text = UTF8_STRICT.decode(raw);
  } catch {
    return raw;
  }
  let prepared: string;
  try {
    prepared = saslprep(text);
  } catch {
    return raw;
  }
  return prepared.length === 0 ? raw : Buffer.from(prepared, 'utf8');
}

/** The keys RFC 5802 section 3 derives from a password. */
export interface ScramKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Derives the RFC 5802 keys from an already prepared password (see preparePassword). */
export function deriveScramKeys(preparedPassword: Buffer, salt: Buffer, iterations: number): ScramKeys {
  const saltedPassword = hi(preparedPassword, salt, iterations);
  const clientKey = hmacSha256(saltedPassword, 'Client Key');
  return {
    saltedPassword,
    clientKey,
    storedKey: hashSha256(clientKey),
    serverKey: hmacSha256(saltedPassword, 'Server Key'),
  };
}

/** A SCRAM-SHA-256 secret as stored in pg_authid.rolpassword. */
export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/**
 * Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (PostgreSQL's parse_scram_secret,
 * src/backend/libpq/auth-scram.c); undefined for anything else, including md5 hashes and plain text.
 */
export function parseScramVerifier(text: string): ScramVerifier | undefined {
  const match = /^SCRAM-SHA-256\$([0-9]+):([^$:]+)\$([^$:]+):([^$:]+)$/.exec(text);
  if (!match) return undefined;
  const iterations = Number(match[1]);
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) return undefined;
  const salt = decodeBase64Strict(match[2]!);
  const storedKey = decodeBase64Strict(match[3]!);
  const serverKey = decodeBase64Strict(match[4]!);
  if (!salt || salt.length === 0) return undefined;
  if (storedKey?.length !== SCRAM_KEY_LENGTH || serverKey?.length !== SCRAM_KEY_LENGTH) return undefined;
  return { iterations, salt, storedKey, serverKey };
}

/** True when the text is a parseable SCRAM-SHA-256 secret. */
export function isScramVerifier(text: string): boolean {
  return parseScramVerifier(text) !== undefined;
}

/** Formats a verifier exactly as PostgreSQL stores it. */
export function formatScramVerifier(verifier: ScramVerifier): string {
  const b64 = (buf: Buffer) => buf.toString('base64');
  return `SCRAM-SHA-256$${verifier.iterations}:${b64(verifier.salt)}$${b64(verifier.storedKey)}:${b64(verifier.serverKey)}`;
}

export interface BuildVerifierOptions {
  /** Defaults to DEFAULT_SALT_LENGTH random bytes. */
  salt?: Buffer;
  iterations?: number;
  randomBytes?: RandomBytes;
}

/** Builds the secret PostgreSQL would store for this password (pg_be_scram_build_secret). */
export function buildScramVerifier(
  password: string | Buffer,
  options: BuildVerifierOptions = {},
): ScramVerifier {
  const salt = options.salt ?? (options.randomBytes ?? cryptoRandomBytes)(DEFAULT_SALT_LENGTH);
  const iterations = options.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  const keys = deriveScramKeys(preparePassword(password), salt, iterations);
  return { iterations, salt, storedKey: keys.storedKey, serverKey: keys.serverKey };
}

/**
 * Checks a plaintext password (the `password` auth method) against a SCRAM secret by recomputing
 * ServerKey, as PostgreSQL's scram_verify_plain_password does.
 */
export function verifyScramPassword(password: string | Buffer, verifier: ScramVerifier): boolean {
  const keys = deriveScramKeys(preparePassword(password), verifier.salt, verifier.iterations);
  return isEqualConstantTime(verifier.serverKey, keys.serverKey);
}

/** AuthMessage of RFC 5802 section 3: the three messages the signatures cover. */
export function buildAuthMessage(
  clientFirstBare: Buffer,
  serverFirst: Buffer,
  clientFinalWithoutProof: Buffer,
): Buffer {
  const comma = Buffer.from(',');
  return Buffer.concat([clientFirstBare, comma, serverFirst, comma, clientFinalWithoutProof]);
}
