// Checks the real-PostgreSQL test cluster: roles, replication, auth methods, failover and apply delay.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, type LocalInstanceInfo } from '../../demo/local-cluster.js';
import { findPgBinaries, PostgresNotInstalledError } from '../../demo/pg-binaries.js';
import { pollUntil } from '../../demo/poll-until.js';
import { sharedCluster } from '../harness/cluster.js';

async function loginAs(inst: LocalInstanceInfo, database: string, user: string, password?: string) {
  const client = new pg.Client({ host: inst.host, port: inst.port, database, user, password });
  client.on('error', () => {});
  await client.connect();
  try {
    const result = await client.query<{ user: string; db: string }>(
      'SELECT current_user AS user, current_database() AS db',
    );
    return result.rows[0];
  } finally {
    await client.end();
  }
}

function uniqueTable(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

describe('finding the PostgreSQL binaries', () => {
  it('finds a bin dir holding initdb on this machine', () => {
    expect(findPgBinaries().initdb).toMatch(/\/initdb$/);
  });

  it('tells how to install PostgreSQL when no bin dir holds initdb', () => {
    const find = () => findPgBinaries({ debianRoot: '/nonexistent', path: '/nonexistent/bin' });
    expect(find).toThrow(PostgresNotInstalledError);
    expect(find).toThrow(/apt-get install -y postgresql/);
  });
});

describe('the shared local cluster', () => {
  const cluster = sharedCluster();

  it('runs pg0 as the primary and pg1, pg2 in recovery', async () => {
    const states = await Promise.all(
      ['pg0', 'pg1', 'pg2'].map(async (name) => {
        const rows = await cluster.query<{ r: boolean }>(name, 'SELECT pg_is_in_recovery() AS r');
        return rows[0]?.r;
      }),
    );
    expect(states).toEqual([false, true, true]);
  });

  it('answers inet_server_addr() with each instance its own loopback address', async () => {
    for (const inst of cluster.descriptor.instances) {
      const rows = await cluster.query<{ addr: string }>(
        inst.name,
        'SELECT host(inet_server_addr()) AS addr',
      );
      expect(rows[0]?.addr).toBe(inst.host);
    }
    const hosts = new Set(cluster.descriptor.instances.map((i) => i.host));
    expect(hosts.size).toBe(3);
  });

  it('replicates a row inserted on pg0 to both standbys', async () => {
    const table = uniqueTable('lc_repl');
    await cluster.query('pg0', `CREATE TABLE ${table} (v text)`);
    try {
      const marker = randomUUID();
      await cluster.query('pg0', `INSERT INTO ${table} VALUES ($1)`, [marker]);
      await cluster.waitForReplay();
      for (const name of ['pg1', 'pg2']) {
        const rows = await cluster.query<{ v: string }>(name, `SELECT v FROM ${table}`);
        expect(rows).toEqual([{ v: marker }]);
      }
    } finally {
      await cluster.query('pg0', `DROP TABLE ${table}`);
    }
  });

  it('lets the SCRAM user log in with its password', async () => {
    const { scram } = cluster.descriptor.users;
    const row = await loginAs(
      cluster.instance('pg0'),
      cluster.descriptor.database,
      scram.name,
      scram.password,
    );
    expect(row).toEqual({ user: scram.name, db: cluster.descriptor.database });
  });

  it('rejects the SCRAM user with a wrong password', async () => {
    const { scram } = cluster.descriptor.users;
    await expect(
      loginAs(cluster.instance('pg1'), cluster.descriptor.database, scram.name, 'not-the-password'),
    ).rejects.toThrow(/password authentication failed/);
  });

  it('stores a SCRAM verifier for the SCRAM user and an md5 hash for the md5 user', async () => {
    const { scram, md5 } = cluster.descriptor.users;
    const rows = await cluster.query<{ rolname: string; kind: string }>(
      'pg0',
      `SELECT rolname, split_part(rolpassword, '$', 1) AS kind FROM pg_authid
        WHERE rolname = ANY($1) ORDER BY rolname`,
      [[scram.name, md5.name]],
    );
    const kinds = Object.fromEntries(rows.map((r) => [r.rolname, r.kind.startsWith('md5') ? 'md5' : r.kind]));
    expect(kinds).toEqual({ [scram.name]: 'SCRAM-SHA-256', [md5.name]: 'md5' });
  });

  it('lets the md5 user log in with its password on a standby', async () => {
    const { md5 } = cluster.descriptor.users;
    const row = await loginAs(cluster.instance('pg2'), cluster.descriptor.database, md5.name, md5.password);
    expect(row?.user).toBe(md5.name);
  });

  it('lets the trust user log in without a password', async () => {
    const { trust } = cluster.descriptor.users;
    const row = await loginAs(cluster.instance('pg0'), cluster.descriptor.database, trust.name);
    expect(row?.user).toBe(trust.name);
  });

  it('lets every application user create a table in the app database', async () => {
    const { scram, md5, trust } = cluster.descriptor.users;
    const inst = cluster.instance('pg0');
    for (const [user, password] of [
      [scram.name, scram.password],
      [md5.name, md5.password],
      [trust.name, undefined],
    ] as const) {
      const client = new pg.Client({ host: inst.host, port: inst.port, database: 'app', user, password });
      await client.connect();
      const table = uniqueTable('lc_own');
      try {
        await client.query(`CREATE TABLE ${table} (v int)`);
        await client.query(`DROP TABLE ${table}`);
      } finally {
        await client.end();
      }
    }
  });
});

// Stops, promotes and delays instances: needs its own cluster (see test/harness/cluster.ts).
describe('a private local cluster', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ firstHost: 10 });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('keeps a received row invisible on a delayed standby until the apply delay has passed', async () => {
    const table = uniqueTable('lc_delay');
    await cluster.query('pg0', `CREATE TABLE ${table} (v int)`);
    await cluster.waitForReplay();
    await cluster.setApplyDelay('pg2', 3_000);
    try {
      await cluster.query('pg0', `INSERT INTO ${table} VALUES (1)`);
      const [{ lsn }] = (await cluster.query<{ lsn: string }>(
        'pg0',
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      )) as [{ lsn: string }];
      await pollUntil(
        'pg2 to receive the insert',
        async () => {
          const rows = await cluster.query<{ ok: boolean }>(
            'pg2',
            'SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AS ok',
            [lsn],
          );
          return rows[0]?.ok === true;
        },
        { timeoutMs: 10_000 },
      );
      const whileDelayed = await cluster.query(`pg2`, `SELECT v FROM ${table}`);
      expect(whileDelayed).toEqual([]);
      await pollUntil(
        'the delayed row to become visible on pg2',
        async () => (await cluster.query('pg2', `SELECT v FROM ${table}`)).length === 1,
        { timeoutMs: 20_000, intervalMs: 200 },
      );
    } finally {
      await cluster.setApplyDelay('pg2', 0);
    }
  });

  it('lets a standby repointed to a promoted standby follow it onto the new timeline', async () => {
    const table = uniqueTable('lc_failover');
    await cluster.query('pg0', `CREATE TABLE ${table} (v text)`);
    await cluster.waitForReplay();
    await cluster.stop('pg0', 'immediate');
    await cluster.promote('pg1');
    await cluster.repoint('pg2', 'pg1');

    const marker = randomUUID();
    await cluster.query('pg1', `INSERT INTO ${table} VALUES ($1)`, [marker]);
    await cluster.waitForReplay();

    expect(await cluster.query('pg2', `SELECT v FROM ${table}`)).toEqual([{ v: marker }]);
    const [primaryTli] = await cluster.query<{ tli: number }>(
      'pg1',
      `SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli`,
    );
    const [standbyTli] = await cluster.query<{ tli: number }>(
      'pg2',
      'SELECT received_tli AS tli FROM pg_stat_wal_receiver',
    );
    expect(primaryTli?.tli).toBeGreaterThan(1);
    expect(standbyTli?.tli).toBe(primaryTli?.tli);
  });
});
