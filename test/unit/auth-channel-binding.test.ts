// tls-server-end-point hashes (RFC 5929) of certificates that openssl signs with different algorithms.

import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeTlsServerEndPoint,
  MalformedCertificateError,
  readSignatureAlgorithm,
  UnsupportedCertificateSignatureError,
} from '../../proxy/auth/channel-binding.js';

interface TestCertificate {
  der: Buffer;
  pem: string;
  key: string;
  /** The signature algorithm as openssl itself reports it. */
  opensslAlgorithm: string;
}

let dir: string;
const certificates = new Map<string, TestCertificate>();

/** Makes a self-signed certificate with openssl (a real, independent X.509 producer). */
function makeCertificate(name: string, keyArgs: string[], signArgs: string[]): void {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...keyArgs,
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      ...signArgs,
    ],
    { stdio: 'pipe' },
  );
  const text = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-text'], { encoding: 'utf8' });
  const pem = readFileSync(certFile, 'utf8');
  certificates.set(name, {
    der: Buffer.from(new X509Certificate(pem).raw),
    pem,
    key: readFileSync(keyFile, 'utf8'),
    opensslAlgorithm: /Signature Algorithm: (\S+)/.exec(text)![1]!,
  });
}

function certificate(name: string): TestCertificate {
  return certificates.get(name)!;
}

function digest(algorithm: string, data: Buffer): Buffer {
  return createHash(algorithm).update(data).digest();
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgroute-cb-'));
  const ec256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  makeCertificate('ecdsa-sha256', ec256, ['-sha256']);
  makeCertificate('ecdsa-sha384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384']);
  makeCertificate('ecdsa-sha1', ec256, ['-sha1']);
  makeCertificate('rsa-pss-sha512', ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:1024'], ['-sha512']);
  makeCertificate('ed25519', ['-newkey', 'ed25519'], []);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('tls-server-end-point', () => {
  it('hashes an ECDSA-SHA384 certificate with SHA-384', () => {
    const { der } = certificate('ecdsa-sha384');
    expect(computeTlsServerEndPoint(der)).toEqual(digest('sha384', der));
  });

  it('hashes an ECDSA-SHA256 certificate with SHA-256', () => {
    const { der } = certificate('ecdsa-sha256');
    expect(computeTlsServerEndPoint(der)).toEqual(digest('sha256', der));
  });

  it('hashes a SHA-1 signed certificate with SHA-256, as RFC 5929 section 4.1 requires', () => {
    const { der } = certificate('ecdsa-sha1');
    expect(computeTlsServerEndPoint(der)).toEqual(digest('sha256', der));
  });

  it('hashes an RSASSA-PSS certificate with the hash named in its PSS parameters', () => {
    const { der } = certificate('rsa-pss-sha512');
    expect(computeTlsServerEndPoint(der)).toEqual(digest('sha512', der));
  });

  it('reads the signature algorithm openssl reports', () => {
    expect(certificate('ecdsa-sha384').opensslAlgorithm).toBe('ecdsa-with-SHA384');
    expect(readSignatureAlgorithm(certificate('ecdsa-sha384').der)).toEqual({ oid: '1.2.840.10045.4.3.3' });
    expect(certificate('rsa-pss-sha512').opensslAlgorithm).toBe('rsassaPss');
    expect(readSignatureAlgorithm(certificate('rsa-pss-sha512').der)).toEqual({
      oid: '1.2.840.113549.1.1.10',
      pssHash: 'sha512',
    });
  });

  it('refuses an Ed25519 certificate, for which PostgreSQL 15 cannot bind either', () => {
    expect(() => computeTlsServerEndPoint(certificate('ed25519').der)).toThrow(
      UnsupportedCertificateSignatureError,
    );
  });

  it('lets the caller name the signature algorithm instead of reading it', () => {
    const { der } = certificate('ecdsa-sha256');
    expect(computeTlsServerEndPoint(der, 'sha512WithRSAEncryption')).toEqual(digest('sha512', der));
  });

  it('refuses bytes that are not a certificate', () => {
    expect(() => computeTlsServerEndPoint(Buffer.from('not a certificate'))).toThrow(
      MalformedCertificateError,
    );
  });

  it('computes the same binding from a TLS peer certificate as from the certificate file', async () => {
    const { pem, key, der } = certificate('ecdsa-sha384');
    const server = tls.createServer({ cert: pem, key }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const peerRaw = await new Promise<Buffer>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerCertificate().raw);
          socket.destroy();
        });
        socket.on('error', reject);
      });
      expect(computeTlsServerEndPoint(peerRaw)).toEqual(digest('sha384', der));
    } finally {
      server.close();
    }
  });
});
