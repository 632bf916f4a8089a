// TLS from pgroute to the PostgreSQL servers: instances with ssl=on and hostssl-only app users, each server.sslmode.

import { appendFile, chmod, chown, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, type LocalInstanceInfo } from '../../demo/local-cluster.js';
import { ServerConnectError } from '../../proxy/server/connect-options.js';
import { ServerConnection } from '../../proxy/server/server-connection.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';
import { makeServerCert, makeTestCa, type TestCa } from '../harness/tls-certs.js';

let dir: string;
let ca: TestCa;
let cluster: LocalCluster;
const proxies: Record<'require' | 'verifyFull' | 'disable', TestProxy | undefined> = {
  require: undefined,
  verifyFull: undefined,
  disable: undefined,
};

/** hostssl for the password users: a connection without TLS finds no line and is refused (28000). */
function hbaOf(users: LocalCluster['descriptor']['users'], superuser: string): string {
  const net = '127.0.0.0/8';
  return [
    'local   all          all                trust',
    'local   replication  all                trust',
    `host    all          ${users.trust.name}  ${net}  trust`,
    `hostssl all          ${users.md5.name}  ${net}  md5`,
    `host    replication  all                ${net}  trust`,
    `host    all          ${superuser}  ${net}  trust`,
    `hostssl all          ${users.scram.name}  ${net}  scram-sha-256`,
    '',
  ].join('\n');
}

/** Certificate, key (0600, as the server demands) and settings owned by the server's OS user, then a restart. */
async function enableTls(inst: LocalInstanceInfo, certFile: string, keyFile: string): Promise<void> {
  const { uid, gid } = await stat(inst.dataDir);
  const cert = join(inst.dataDir, 'server.crt');
  const key = join(inst.dataDir, 'server.key');
  const hba = join(inst.dataDir, 'pg_hba.conf');
  await copyFile(certFile, cert);
  await copyFile(keyFile, key);
  await chmod(key, 0o600);
  await writeFile(hba, hbaOf(cluster.descriptor.users, cluster.descriptor.superuser));
  for (const f of [cert, key, hba]) await chown(f, uid, gid);
  // Appended after the cluster's settings, so these win (https://www.postgresql.org/docs/15/ssl-tcp.html).
  await appendFile(
    join(inst.dataDir, 'postgresql.conf'),
    "\n# --- tls-server.test ---\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
  );
  await cluster.restart(inst.name);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgr-tls-server-'));
  cluster = await LocalCluster.start({ firstHost: 180, standbys: 1 });
  ca = await makeTestCa(dir);
  const sans = cluster.descriptor.instances.map((i) => `IP:${i.host}`);
  const serverCert = await makeServerCert(ca, 'postgres', [...sans, 'DNS:localhost']);
  for (const inst of cluster.descriptor.instances)
    await enableTls(inst, serverCert.certFile, serverCert.keyFile);
  const [require, verifyFull, disable] = await Promise.all([
    startTestProxy(cluster, { server: { sslmode: 'require' }, pool: { size: 2 } }),
    startTestProxy(cluster, {
      server: { sslmode: 'verify-full', sslrootcert: ca.certFile },
      pool: { size: 2 },
    }),
    startTestProxy(cluster, { server: { sslmode: 'disable' }, pool: { size: 2 } }),
  ]);
  Object.assign(proxies, { require, verifyFull, disable });
}, 180_000);

afterAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p?.stop()));
  await cluster?.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `sql` through a proxy as a client without TLS; the proxy's own link to the server is what is tested. */
async function queryThrough(
  tp: TestProxy,
  sql: string,
  opts: Parameters<TestProxy['params']>[0] = {},
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ ...tp.params(opts), ssl: false });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const OWN_SSL = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

function connectDirect(sslmode: 'require' | 'verify-full' | 'disable', ca?: Buffer) {
  const inst = cluster.descriptor.instances[0]!;
  const { scram } = cluster.descriptor.users;
  return ServerConnection.connect(
    {
      host: inst.host,
      port: inst.port,
      user: scram.name,
      password: scram.password,
      database: cluster.descriptor.database,
      connectTimeoutMs: 10_000,
      sslmode,
      ca,
      maxMessageSize: 1 << 20,
    },
    Date.now(),
  );
}

describe('server.sslmode require', () => {
  it('serves writes over TLS to the primary', async () => {
    const rows = await queryThrough(proxies.require!, OWN_SSL, { mode: 'rw' });
    expect(rows).toEqual([{ ssl: true }]);
  });

  it('serves reads over TLS to a standby', async () => {
    const rows = await queryThrough(
      proxies.require!,
      `SELECT pg_is_in_recovery() AS standby, (${OWN_SSL}) AS ssl`,
      { mode: 'ro' },
    );
    expect(rows).toEqual([{ standby: true, ssl: true }]);
  });

  it('logs in an md5 user over TLS', async () => {
    const rows = await queryThrough(proxies.require!, OWN_SSL, { mode: 'rw', user: 'md5' });
    expect(rows).toEqual([{ ssl: true }]);
  });
});

describe('server.sslmode verify-full', () => {
  it('serves queries when the server certificate chains to sslrootcert and names the host', async () => {
    const rows = await queryThrough(proxies.verifyFull!, OWN_SSL, { mode: 'rw' });
    expect(rows).toEqual([{ ssl: true }]);
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'pgr-tls-other-'));
    try {
      const other = await makeTestCa(otherDir, 'other');
      const err = await connectDirect('verify-full', await readFile(other.certFile)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServerConnectError);
      expect((err as ServerConnectError).code).toBe('SERVER_TLS_FAILED');
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

describe('server.sslmode disable', () => {
  it("reports the server's pg_hba refusal to the client", async () => {
    const err = (await queryThrough(proxies.disable!, 'SELECT 1', { mode: 'rw' }).catch(
      (e: unknown) => e,
    )) as {
      code?: string;
      message?: string;
    };
    expect(err.code).toBe('28000');
    expect(err.message).toMatch(/no pg_hba\.conf entry for host .*user "app".*no encryption/);
  });
});

describe('SCRAM to the server over TLS', () => {
  it('binds the login to the server certificate with SCRAM-SHA-256-PLUS', async () => {
    const conn = await connectDirect('verify-full', await readFile(ca.certFile));
    try {
      expect(conn.saslMechanism).toBe('SCRAM-SHA-256-PLUS');
    } finally {
      conn.close();
    }
  });
});
