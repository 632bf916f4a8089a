// Nothing secret reaches the log, even at trace level: passwords, SCRAM proofs and keys, md5 hashes.
//
// pgroute runs in-process with a pino logger writing into memory; logins (right and wrong, md5 and SCRAM,
// an unknown user), server-side login failures, a reload, the admin console and queries all go through it.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConfigInput, validateConfig } from '../../config.js';
import { type RunningProxy, startPgroute } from '../../main.js';
import { sharedCluster } from '../harness/cluster.js';
import { makeServerCert, makeTestCa, type TestServerCert } from '../harness/tls-certs.js';

const run = promisify(execFile);

const d = sharedCluster().descriptor;
const WRONG_PASSWORD = 'wrong-secret-7f3a';
/** app_md5's password after the reload: pgroute accepts it from clients, the server does not. */
const ROTATED_PASSWORD = 'md5-rotated-secret';
const PROBE_PASSWORD = 'probe-secret-19c2';
/** A user pgroute knows and the server does not: its logins fail at the server. */
const GHOST = { name: 'app_ghost', password: 'ghost-secret-5d21' };
const SECRETS = [
  GHOST.password,
  d.users.scram.password,
  d.users.md5.password,
  WRONG_PASSWORD,
  ROTATED_PASSWORD,
  PROBE_PASSWORD,
];

const logText: string[] = [];
let proxy: RunningProxy;
let showConfigOutput = '';
let dir: string;
let cert: TestServerCert;
/** The base64 body of the proxy's private key, which must not be logged either. */
let keyBody = '';

function configWith(md5Password: string) {
  const input: ConfigInput = {
    listen: [{ host: '127.0.0.1', port: 0, mode: 'auto' }],
    cluster: {
      hosts: d.instances.map((i) => `${i.host}:${i.port}`),
      probe: { user: d.superuser, password: PROBE_PASSWORD, database: 'postgres', interval: '100ms' },
    },
    users: [
      { name: d.users.scram.name, password: d.users.scram.password },
      { name: d.users.md5.name, password: md5Password, auth: 'md5' },
      { name: d.users.trust.name, auth: 'trust' },
      GHOST,
    ],
    pool: { size: 4 },
    admin: { users: [d.users.scram.name] },
    tls: { cert: cert.certFile, key: cert.keyFile, mode: 'allow' },
    log: { level: 'trace' },
    shutdown: { timeout: '2s' },
  };
  return validateConfig(input);
}

function clientFor(user: string, password: string): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port: proxy.portOf('auto'),
    user,
    password,
    database: d.database,
    ssl: false,
  });
}

/** Connects, runs the queries, disconnects; resolves with the error instead of throwing. */
async function session(user: string, password: string, queries: string[] = ['SELECT 1']): Promise<unknown> {
  const client = clientFor(user, password);
  try {
    await client.connect();
    for (const q of queries) await client.query(q);
    return null;
  } catch (err) {
    return err;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * psql logs in and runs SELECT 1; resolves with its exit code and stderr. psql, unlike node-postgres,
 * closes its socket after a FATAL error that follows AuthenticationOk (a server-side login failure).
 */
async function psqlLogin(
  user: string,
  password: string,
  tls = 'sslmode=disable',
): Promise<{ code: number; stderr: string }> {
  const conn = `host=127.0.0.1 port=${proxy.portOf('auto')} user=${user} dbname=${d.database} ${tls}`;
  return run('psql', ['-X', '-A', '-t', conn, '-c', 'SELECT 1'], {
    env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' },
  }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
  );
}

const SCRAM_PLUS = 'sslmode=require channel_binding=require';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgr-logs-'));
  cert = await makeServerCert(await makeTestCa(dir), 'proxy', ['IP:127.0.0.1', 'DNS:localhost']);
  keyBody = (await readFile(cert.keyFile, 'utf8'))
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logText.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = pino({ level: 'trace' }, sink);
  proxy = await startPgroute(configWith(d.users.md5.password), { log });
  await proxy.discovery.waitFor(
    (s) => s.primaryId !== null && s.instances.every((i) => i.role !== 'unknown'),
    15_000,
  );
  const { scram, md5 } = d.users;
  expect(
    await session(scram.name, scram.password, ['SELECT 1', 'BEGIN', 'SELECT now()', 'COMMIT']),
  ).toBeNull();
  expect(await session(md5.name, md5.password, ['SELECT current_user'])).toBeNull();
  expect(await session(scram.name, WRONG_PASSWORD)).toMatchObject({ code: '28P01' });
  expect(await session(md5.name, WRONG_PASSWORD)).toMatchObject({ code: '28P01' });
  expect(await session('nobody_here', WRONG_PASSWORD)).toMatchObject({ code: '28P01' });
  expect((await psqlLogin(scram.name, scram.password, SCRAM_PLUS)).code).toBe(0);
  expect((await psqlLogin(scram.name, WRONG_PASSWORD, SCRAM_PLUS)).stderr).toContain(
    'password authentication failed',
  );
  await proxy.reload(configWith(ROTATED_PASSWORD));
  // pgroute now takes the rotated password from clients; whether the server does depends on pooled connections.
  await psqlLogin(md5.name, ROTATED_PASSWORD);
  expect((await psqlLogin(GHOST.name, GHOST.password)).stderr).toContain(
    'password authentication failed for user "app_ghost"',
  );
  const shown = await run(
    'psql',
    [
      '-X',
      '-A',
      '-h',
      '127.0.0.1',
      '-p',
      String(proxy.portOf('auto')),
      '-U',
      scram.name,
      '-d',
      'pgroute',
      '-c',
      'SHOW CONFIG',
    ],
    {
      env: { ...process.env, PGPASSWORD: scram.password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' },
    },
  );
  showConfigOutput = shown.stdout;
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await rm(dir, { recursive: true, force: true });
});

function events(): Set<string> {
  const out = new Set<string>();
  for (const line of logText.join('').split('\n')) {
    if (!line) continue;
    const event = (JSON.parse(line) as { event?: unknown }).event;
    if (typeof event === 'string') out.add(event);
  }
  return out;
}

describe('logs at trace level', () => {
  it('record the startup, the failed logins and the reload (so the other checks see real logs)', () => {
    const seen = events();
    for (const e of ['started', 'auth-failed', 'reload']) expect(seen).toContain(e);
  });

  it('contain none of the configured or attempted passwords', () => {
    const text = logText.join('');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
  });

  it('contain no SCRAM proof, signature or key', () => {
    const text = logText.join('');
    expect(text).not.toMatch(/\bp=[A-Za-z0-9+/]{43}=/);
    expect(text).not.toMatch(/\bv=[A-Za-z0-9+/]{43}=/);
    expect(text).not.toContain('SCRAM-SHA-256$');
    // Any 32-byte value in base64 (ClientKey, StoredKey, ServerKey, proofs) has no business in a log.
    expect(text).not.toMatch(/[A-Za-z0-9+/]{43}=/);
  });

  it('contain no md5 password hash or md5 response', () => {
    expect(logText.join('')).not.toMatch(/md5[0-9a-f]{32}/);
  });

  it('contain no part of the TLS private key', () => {
    const text = logText.join('');
    expect(keyBody.length).toBeGreaterThan(40);
    expect(text).not.toContain('PRIVATE KEY');
    for (let i = 0; i + 24 <= keyBody.length; i += 24) expect(text).not.toContain(keyBody.slice(i, i + 24));
  });
});

describe('the admin console', () => {
  it('shows the configuration with every password redacted', () => {
    expect(showConfigOutput).toContain('users.0.name');
    for (const secret of SECRETS) expect(showConfigOutput).not.toContain(secret);
  });
});
