// Client-facing TLS through a real pgroute: psql verify-full, tls.mode require, SCRAM-SHA-256-PLUS, certificate reload.

import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { promisify } from 'node:util';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeTlsServerEndPoint } from '../../proxy/auth/channel-binding.js';
import { ScramClient } from '../../proxy/auth/scram-client.js';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';
import { makeServerCert, makeTestCa, type TestCa, type TestServerCert } from '../harness/tls-certs.js';

const run = promisify(execFile);

let dir: string;
let ca: TestCa;
let caPem: Buffer;
let original: TestServerCert;
let renewed: TestServerCert;
/** The files pgroute's tls.cert / tls.key point at. */
let liveCert: string;
let liveKey: string;
let tp: TestProxy;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgr-tls-client-'));
  ca = await makeTestCa(dir);
  caPem = await readFile(ca.certFile);
  original = await makeServerCert(ca, 'proxy', ['IP:127.0.0.1', 'DNS:localhost']);
  renewed = await makeServerCert(ca, 'proxy-renewed', ['IP:127.0.0.1', 'DNS:localhost']);
  liveCert = join(dir, 'tls.crt');
  liveKey = join(dir, 'tls.key');
  await copyFile(original.certFile, liveCert);
  await copyFile(original.keyFile, liveKey);
  tp = await startTestProxy(sharedCluster(), {
    tls: { cert: liveCert, key: liveKey, mode: 'require' },
    pool: { size: 4 },
  });
});

afterAll(async () => {
  await tp?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A libpq connection string through the auto listener. */
function conninfo(extra: string): string {
  const p = tp.params();
  return `host=${p.host} port=${p.port} user=${p.user} dbname=${p.database} ${extra}`;
}

function psql(conn: string, ...commands: string[]) {
  return run('psql', ['-X', '-A', '-t', conn, ...commands.flatMap((c) => ['-c', c])], {
    env: { ...process.env, PGPASSWORD: tp.params().password, PGCONNECT_TIMEOUT: '10' },
  });
}

/** SSLRequest, then a TLS handshake trusting only the test CA (as a verify-full client would). */
async function openTls(): Promise<tls.TLSSocket> {
  const raw = net.connect(tp.params().port, '127.0.0.1');
  await once(raw, 'connect');
  raw.write(serialize.requestSsl());
  const [answer] = (await once(raw, 'data')) as [Buffer];
  expect(answer.toString('latin1')).toBe('S');
  const secure = tls.connect({ socket: raw, ca: caPem, servername: 'localhost' });
  await once(secure, 'secureConnect');
  return secure;
}

/** Backend messages of one connection, one at a time. */
function messagesOf(socket: tls.TLSSocket): () => Promise<BackendMessage & Record<string, unknown>> {
  const parser = new Parser();
  const queue: BackendMessage[] = [];
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) =>
    parser.parse(chunk, (m) => {
      queue.push(m);
      wake?.();
    }),
  );
  return async () => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift() as BackendMessage & Record<string, unknown>;
  };
}

/** A SCRAM login over TLS binding to `binding`; resolves with the name of the message that ends it. */
async function loginWithBinding(binding: (peer: Buffer) => Buffer): Promise<{ end: string; text: string }> {
  const socket = await openTls();
  try {
    const next = messagesOf(socket);
    const p = tp.params();
    socket.write(serialize.startup({ user: p.user, database: p.database }));
    const sasl = await next();
    expect(sasl.name).toBe('authenticationSASL');
    expect(sasl.mechanisms).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
    const scram = new ScramClient({
      password: p.password,
      channelBinding: binding(socket.getPeerCertificate().raw),
      requireChannelBinding: true,
    });
    const first = scram.start(sasl.mechanisms as string[]);
    expect(first.mechanism).toBe('SCRAM-SHA-256-PLUS');
    socket.write(serialize.sendSASLInitialResponseMessage(first.mechanism, first.clientFirst));
    const cont = await next();
    expect(cont.name).toBe('authenticationSASLContinue');
    socket.write(serialize.sendSCRAMClientFinalMessage(scram.handleServerFirst(cont.data as string)));
    const last = await next();
    return { end: last.name, text: String(last.message ?? '') };
  } finally {
    socket.destroy();
  }
}

describe('TLS between clients and pgroute', () => {
  it('serves psql with sslmode=verify-full over an encrypted connection', async () => {
    const { stdout } = await psql(
      conninfo(`sslmode=verify-full sslrootcert=${ca.certFile}`),
      '\\conninfo',
      'SELECT 40 + 2',
    );
    expect(stdout).toContain('SSL connection (protocol: TLSv1.');
    expect(stdout).toContain('42');
  });

  it('refuses a client that does not ask for TLS with FATAL 28000 when tls.mode is require', async () => {
    const client = new pg.Client({ ...tp.params(), ssl: false });
    const err = (await client.connect().catch((e: unknown) => e)) as { code?: string; message?: string };
    await client.end().catch(() => {});
    expect(err.code).toBe('28000');
    expect(err.message).toContain('TLS is required');
  });

  it('tells psql with sslmode=disable why it was refused', async () => {
    const r = (await psql(conninfo('sslmode=disable'), 'SELECT 1').catch((e: unknown) => e)) as {
      code?: number;
      stderr?: string;
    };
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/FATAL: +pgroute: TLS is required/);
  });
});

describe('SCRAM-SHA-256-PLUS between clients and pgroute', () => {
  it('logs in psql with channel_binding=require', async () => {
    const { stdout } = await psql(
      conninfo(`sslmode=verify-full sslrootcert=${ca.certFile} channel_binding=require`),
      'SELECT current_user',
    );
    expect(stdout.trim()).toBe(tp.params().user);
  });

  it('accepts a binding to the certificate pgroute presented', async () => {
    const r = await loginWithBinding((peer) => computeTlsServerEndPoint(peer));
    expect(r.end).toBe('authenticationSASLFinal');
  });

  it('refuses a binding to another certificate, as a relaying man in the middle would send', async () => {
    const other = computeTlsServerEndPoint(new X509Certificate(caPem).raw);
    const r = await loginWithBinding(() => other);
    expect(r.end).toBe('error');
    expect(r.text).toContain('channel binding check failed');
  });
});

describe('certificate reload', () => {
  it('presents a replaced certificate to new connections without a restart', async () => {
    const fingerprint = async (): Promise<string> => {
      const s = await openTls();
      const f = s.getPeerCertificate().fingerprint256;
      s.destroy();
      return f;
    };
    expect(await fingerprint()).toBe(original.fingerprint);
    // Write aside, then rename over: each file changes in one step, as a Secret update does.
    await copyFile(renewed.keyFile, `${liveKey}.new`);
    await copyFile(renewed.certFile, `${liveCert}.new`);
    await rename(`${liveKey}.new`, liveKey);
    await rename(`${liveCert}.new`, liveCert);
    let seen = await fingerprint();
    for (let i = 0; i < 100 && seen !== renewed.fingerprint; i++) {
      await sleep(100);
      seen = await fingerprint();
    }
    expect(seen).toBe(renewed.fingerprint);
    // The binding follows the new certificate too.
    const { stdout } = await psql(
      conninfo(`sslmode=verify-full sslrootcert=${ca.certFile} channel_binding=require`),
      'SELECT 1',
    );
    expect(stdout.trim()).toBe('1');
  });
});
