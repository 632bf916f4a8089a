// TlsContext: the client-facing certificate is loaded from files and replaced when they change, never lost.

import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TlsContext, TlsFilesError } from '../../proxy/tls-context.js';
import { makeServerCert, makeTestCa, type TestServerCert } from '../harness/tls-certs.js';

let dir: string;
let first: TestServerCert;
let second: TestServerCert;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgr-tls-unit-'));
  const ca = await makeTestCa(dir);
  first = await makeServerCert(ca, 'first', ['IP:127.0.0.1', 'DNS:localhost']);
  second = await makeServerCert(ca, 'second', ['IP:127.0.0.1', 'DNS:localhost']);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Live files the context watches, starting as a copy of `cert`. */
async function liveFiles(name: string, cert: TestServerCert): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}-live.pem`);
  const keyFile = join(dir, `${name}-live.key`);
  await copyFile(cert.certFile, certFile);
  await copyFile(cert.keyFile, keyFile);
  return { certFile, keyFile };
}

/** Replace a file the way an operator's tooling should: write aside, then rename over. */
async function replaceFile(source: string, target: string): Promise<void> {
  await copyFile(source, `${target}.tmp`);
  await rename(`${target}.tmp`, target);
}

/** The fingerprint a TLS client sees when the server uses `context`. */
async function presentedFingerprint(context: tls.SecureContext): Promise<string> {
  const server = tls.createServer({ SNICallback: (_name, cb) => cb(null, context) }, (s) => s.end());
  // The default context is never used: SNICallback answers every handshake that names a server.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
      c.once('secureConnect', () => {
        resolve(c.getPeerCertificate().fingerprint256);
        c.destroy();
      });
      c.once('error', reject);
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

function recordingLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    info: (obj: object, msg: string) =>
      void lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) =>
      void lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
}

describe('TlsContext', () => {
  it('presents the certificate from the configured files', async () => {
    const files = await liveFiles('present', first);
    const ctx = TlsContext.load({ ...files });
    expect(ctx.fingerprint).toBe(first.fingerprint);
    expect(await presentedFingerprint(ctx.current())).toBe(first.fingerprint);
  });

  it('presents a replaced certificate to the next handshake after the files change', async () => {
    const files = await liveFiles('replace', first);
    const log = recordingLog();
    const ctx = TlsContext.load({ ...files, recheckMs: 0, log });
    await replaceFile(second.keyFile, files.keyFile);
    await replaceFile(second.certFile, files.certFile);
    expect(await presentedFingerprint(ctx.current())).toBe(second.fingerprint);
    expect(log.lines.filter((l) => l.obj.event === 'tls-reloaded')).toHaveLength(1);
  });

  it('keeps the previous certificate while the new certificate does not match the key', async () => {
    const files = await liveFiles('halfway', first);
    const log = recordingLog();
    const ctx = TlsContext.load({ ...files, recheckMs: 0, log });
    await replaceFile(second.certFile, files.certFile);
    expect(await presentedFingerprint(ctx.current())).toBe(first.fingerprint);
    ctx.current();
    expect(log.lines.filter((l) => l.obj.event === 'tls-reload-failed')).toHaveLength(1);
    await replaceFile(second.keyFile, files.keyFile);
    expect(await presentedFingerprint(ctx.current())).toBe(second.fingerprint);
  });

  it('keeps the previous certificate while a file is missing', async () => {
    const files = await liveFiles('missing', first);
    const ctx = TlsContext.load({ ...files, recheckMs: 0 });
    await rm(files.keyFile);
    expect(await presentedFingerprint(ctx.current())).toBe(first.fingerprint);
  });

  it('looks at the files again only once recheckMs has passed', async () => {
    const files = await liveFiles('throttle', first);
    let now = 0;
    const ctx = TlsContext.load({ ...files, recheckMs: 1_000, now: () => now });
    await replaceFile(second.keyFile, files.keyFile);
    await replaceFile(second.certFile, files.certFile);
    now = 999;
    ctx.current();
    expect(ctx.fingerprint).toBe(first.fingerprint);
    now = 1_000;
    ctx.current();
    expect(ctx.fingerprint).toBe(second.fingerprint);
  });

  it('refuses to start with a key that does not belong to the certificate', () => {
    expect(() => TlsContext.load({ certFile: first.certFile, keyFile: second.keyFile })).toThrow(
      TlsFilesError,
    );
  });

  it('refuses to start with a certificate file that does not exist', () => {
    expect(() => TlsContext.load({ certFile: join(dir, 'nope.pem'), keyFile: first.keyFile })).toThrow(
      TlsFilesError,
    );
  });
});
