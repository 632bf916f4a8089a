// tls-server-end-point channel binding data (RFC 5929 section 4.1): a hash of the server's DER certificate.

import { createHash, X509Certificate } from 'node:crypto';

/** The certificate could not be parsed. */
export class MalformedCertificateError extends Error {
  readonly code = 'CHANNEL_BINDING_MALFORMED_CERTIFICATE';
}

/**
 * The certificate's signature algorithm names no single hash function (Ed25519, Ed448, or one we
 * do not know), so RFC 5929 defines no binding. PostgreSQL fails the same way
 * ("could not determine server certificate signature algorithm"), and so does libpq.
 */
export class UnsupportedCertificateSignatureError extends Error {
  readonly code = 'CHANNEL_BINDING_UNSUPPORTED_SIGNATURE';
}

type HashName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' | 'md5';

/** Signature algorithm OIDs (RFC 4055, RFC 5758, RFC 3279) and the hash each signs with; 'pss' reads its parameters. */
const SIGNATURE_ALGORITHMS: Record<string, { name: string; hash: HashName | 'pss' }> = {
  '1.2.840.113549.1.1.4': { name: 'md5WithRSAEncryption', hash: 'md5' },
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', hash: 'sha1' },
  '1.3.14.3.2.29': { name: 'sha1WithRSASignature', hash: 'sha1' },
  '1.2.840.113549.1.1.14': { name: 'sha224WithRSAEncryption', hash: 'sha224' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', hash: 'sha512' },
  '1.2.840.113549.1.1.10': { name: 'RSASSA-PSS', hash: 'pss' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', hash: 'sha1' },
  '1.2.840.10045.4.3.1': { name: 'ecdsa-with-SHA224', hash: 'sha224' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', hash: 'sha512' },
  '1.2.840.10040.4.3': { name: 'dsa-with-sha1', hash: 'sha1' },
  '2.16.840.1.101.3.4.3.1': { name: 'dsa-with-sha224', hash: 'sha224' },
  '2.16.840.1.101.3.4.3.2': { name: 'dsa-with-sha256', hash: 'sha256' },
};

/** Hash algorithm OIDs, as found in RSASSA-PSS parameters (RFC 4055 section 2.1). */
const HASH_ALGORITHMS: Record<string, HashName> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/**
 * The channel binding data for SCRAM-SHA-256-PLUS: the certificate hashed with the hash of its
 * own signature algorithm, except that MD5 and SHA-1 are replaced by SHA-256 (RFC 5929 section 4.1).
 * `certificateDer` is a TLS peer certificate's `raw`. `signatureAlgorithm` (an OID or a name such as
 * 'sha384WithRSAEncryption') overrides the algorithm read from the certificate.
 */
export function computeTlsServerEndPoint(certificateDer: Buffer, signatureAlgorithm?: string): Buffer {
  try {
    // Validates the whole structure; Node 20's X509Certificate does not expose the signature
    // algorithm itself (no `signatureAlgorithm` property yet), so that is read from the DER below.
    new X509Certificate(certificateDer);
  } catch (error) {
    throw new MalformedCertificateError(`not a DER X.509 certificate: ${(error as Error).message}`);
  }
  const hash = selectEndPointHash(signatureAlgorithm ?? readSignatureAlgorithm(certificateDer));
  return createHash(hash).update(certificateDer).digest();
}

/** The hash RFC 5929 prescribes for a certificate signed with the given algorithm (OID or name). */
export function selectEndPointHash(signatureAlgorithm: string | SignatureAlgorithm): HashName {
  const algorithm = typeof signatureAlgorithm === 'string' ? { oid: signatureAlgorithm } : signatureAlgorithm;
  const known =
    SIGNATURE_ALGORITHMS[algorithm.oid] ??
    Object.values(SIGNATURE_ALGORITHMS).find((a) => a.name.toLowerCase() === algorithm.oid.toLowerCase());
  if (!known) throw new UnsupportedCertificateSignatureError(`no channel binding hash for ${algorithm.oid}`);
  let hash: HashName | undefined = known.hash === 'pss' ? algorithm.pssHash : known.hash;
  if (hash === undefined) {
    throw new UnsupportedCertificateSignatureError(
      `no channel binding hash for ${known.name} without parameters`,
    );
  }
  if (hash === 'md5' || hash === 'sha1') hash = 'sha256';
  return hash;
}

/** A certificate's outer signatureAlgorithm: its OID and, for RSASSA-PSS, the hash its parameters name. */
export interface SignatureAlgorithm {
  oid: string;
  pssHash?: HashName;
}

/**
 * Reads Certificate.signatureAlgorithm (RFC 5280 section 4.1.1.2):
 * Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm AlgorithmIdentifier, ... }.
 */
export function readSignatureAlgorithm(certificateDer: Buffer): SignatureAlgorithm {
  const certificate = readTlv(certificateDer, 0, SEQUENCE);
  const tbs = readTlv(certificateDer, certificate.start, SEQUENCE);
  const algorithm = readTlv(certificateDer, tbs.end, SEQUENCE);
  const oidTlv = readTlv(certificateDer, algorithm.start, OBJECT_IDENTIFIER);
  const oid = decodeOid(certificateDer.subarray(oidTlv.start, oidTlv.end));
  if (SIGNATURE_ALGORITHMS[oid]?.hash !== 'pss') return { oid };
  // RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] EXPLICIT AlgorithmIdentifier DEFAULT sha1, ... }
  let pssHash: HashName = 'sha1';
  if (oidTlv.end < algorithm.end) {
    const params = readTlv(certificateDer, oidTlv.end, SEQUENCE);
    if (params.start < params.end && certificateDer[params.start] === CONTEXT_0) {
      const explicit = readTlv(certificateDer, params.start, CONTEXT_0);
      const hashAlgorithm = readTlv(certificateDer, explicit.start, SEQUENCE);
      const hashOid = readTlv(certificateDer, hashAlgorithm.start, OBJECT_IDENTIFIER);
      const name = HASH_ALGORITHMS[decodeOid(certificateDer.subarray(hashOid.start, hashOid.end))];
      if (!name)
        throw new UnsupportedCertificateSignatureError('RSASSA-PSS certificate with an unknown hash');
      pssHash = name;
    }
  }
  return { oid, pssHash };
}

const SEQUENCE = 0x30;
const OBJECT_IDENTIFIER = 0x06;
const CONTEXT_0 = 0xa0;

/** Reads one DER tag-length-value at `offset`; `start`/`end` delimit its contents. */
function readTlv(der: Buffer, offset: number, expectedTag: number): { start: number; end: number } {
  const tag = der[offset];
  let lengthByte = der[offset + 1];
  if (tag !== expectedTag || lengthByte === undefined) {
    throw new MalformedCertificateError(`DER tag 0x${expectedTag.toString(16)} expected at ${offset}`);
  }
  let start = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new MalformedCertificateError(`bad DER length at ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = der[start + i];
      if (lengthByte === undefined) throw new MalformedCertificateError(`truncated DER length at ${offset}`);
      length = length * 256 + lengthByte;
    }
    start += count;
  }
  const end = start + length;
  if (end > der.length) throw new MalformedCertificateError(`truncated DER value at ${offset}`);
  return { start, end };
}

/** Dotted form of a DER OBJECT IDENTIFIER's contents (X.690 section 8.19). */
function decodeOid(contents: Buffer): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of contents) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}
