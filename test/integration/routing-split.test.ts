// Read/write split against the real cluster: listener modes, statement kinds, transactions, hints, pgbench through `auto`.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const run = promisify(execFile);
const cluster = sharedCluster();
const [primary, standby1, standby2] = cluster.descriptor.instances.map((i) => i.host);
const table = `routing_split_${process.pid}`;
let tp: TestProxy;

beforeAll(async () => {
  // Other test files write heavily to the shared cluster meanwhile; lag limits (tested in
  // routing-consistency.test.ts) would make the split depend on their timing, so they are off here.
  tp = await startTestProxy(cluster, { routing: { maxLagBytes: null, maxLagSeconds: null } });
  const c = await client('rw');
  await c.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, note text)`);
  await c.end();
  await cluster.waitForReplay();
});

afterAll(async () => {
  const c = await client('rw');
  await c.query(`DROP TABLE IF EXISTS ${table}`);
  await c.end();
  await tp.stop();
});

async function client(mode: 'auto' | 'rw' | 'ro' | 'r' = 'auto'): Promise<pg.Client> {
  const c = new pg.Client(tp.params({ mode }));
  await c.connect();
  return c;
}

async function hostOf(c: pg.Client, sql = 'SELECT inet_server_addr()::text AS host'): Promise<string> {
  const r = await c.query(sql);
  return String(r.rows[0].host).replace(/\/32$/, '');
}

function tally(hosts: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const h of hosts) m.set(h, (m.get(h) ?? 0) + 1);
  return m;
}

describe('the seed experiment', () => {
  it('spreads 30 autocommit reads through auto evenly over the two standbys', async () => {
    const c = await client('auto');
    const hosts: string[] = [];
    for (let i = 0; i < 30; i++) hosts.push(await hostOf(c));
    await c.end();
    const t = tally(hosts);
    expect(t.get(primary!) ?? 0).toBe(0);
    expect(Math.abs((t.get(standby1!) ?? 0) - 15)).toBeLessThanOrEqual(1);
    expect(Math.abs((t.get(standby2!) ?? 0) - 15)).toBeLessThanOrEqual(1);
  });

  it('sends 30 writes through auto to the primary', async () => {
    const c = await client('auto');
    const hosts: string[] = [];
    for (let i = 0; i < 30; i++) {
      hosts.push(
        await hostOf(
          c,
          `INSERT INTO ${table} (note) VALUES ('w') RETURNING inet_server_addr()::text AS host`,
        ),
      );
    }
    await c.end();
    expect(tally(hosts)).toEqual(new Map([[primary, 30]]));
  });

  it('covers all three instances with 30 reads through r', async () => {
    const c = await client('r');
    const hosts: string[] = [];
    for (let i = 0; i < 30; i++) hosts.push(await hostOf(c));
    await c.end();
    const t = tally(hosts);
    expect(new Set(t.keys())).toEqual(new Set([primary, standby1, standby2]));
    for (const n of t.values()) expect(n).toBe(10);
  });

  it('sends reads through ro only to standbys', async () => {
    const c = await client('ro');
    const hosts: string[] = [];
    for (let i = 0; i < 30; i++) hosts.push(await hostOf(c));
    await c.end();
    expect(new Set(hosts)).toEqual(new Set([standby1, standby2]));
  });

  it('sends everything through rw to the primary', async () => {
    const c = await client('rw');
    const hosts: string[] = [];
    for (let i = 0; i < 10; i++) hosts.push(await hostOf(c));
    await c.end();
    expect(new Set(hosts)).toEqual(new Set([primary]));
  });
});

describe('transactions and hints', () => {
  it('runs a read-write transaction entirely on the primary', async () => {
    const c = await client();
    await c.query('BEGIN');
    const hosts = [
      await hostOf(c),
      await hostOf(c, `INSERT INTO ${table} (note) VALUES ('tx') RETURNING inet_server_addr()::text AS host`),
      await hostOf(c),
    ];
    await c.query('COMMIT');
    await c.end();
    expect(new Set(hosts)).toEqual(new Set([primary]));
  });

  it('runs a BEGIN READ ONLY transaction entirely on one standby', async () => {
    const c = await client();
    for (let round = 0; round < 3; round++) {
      await c.query('BEGIN READ ONLY');
      const hosts = [await hostOf(c), await hostOf(c), await hostOf(c)];
      await c.query('COMMIT');
      expect(new Set(hosts).size).toBe(1);
      expect([standby1, standby2]).toContain(hosts[0]);
    }
    await c.end();
  });

  it('treats a plain BEGIN as read-only when default_transaction_read_only is on', async () => {
    const c = new pg.Client({ ...tp.params(), options: '-c default_transaction_read_only=on' });
    await c.connect();
    await c.query('BEGIN');
    const h = await hostOf(c);
    await c.query('COMMIT');
    await c.end();
    expect([standby1, standby2]).toContain(h);
  });

  it('sends a multi-statement query with one write to the primary', async () => {
    const c = await client();
    const r = await c.query(
      `SELECT 1; INSERT INTO ${table} (note) VALUES ('multi'); SELECT inet_server_addr()::text AS host`,
    );
    await c.end();
    const last = (r as unknown as pg.QueryResult[])[2]!;
    expect(String(last.rows[0].host).replace(/\/32$/, '')).toBe(primary);
  });

  it('sends SELECT ... FOR UPDATE and nextval() to the primary', async () => {
    const c = await client();
    expect(await hostOf(c, `SELECT inet_server_addr()::text AS host FROM ${table} LIMIT 1 FOR UPDATE`)).toBe(
      primary,
    );
    expect(await hostOf(c, `SELECT inet_server_addr()::text AS host, nextval('${table}_id_seq')`)).toBe(
      primary,
    );
    await c.end();
  });

  it('follows /* pgroute:primary */ hints and SET pgroute.target', async () => {
    const c = await client();
    expect(await hostOf(c, '/* pgroute:primary */ SELECT inet_server_addr()::text AS host')).toBe(primary);
    await c.query('SET pgroute.target TO primary');
    expect((await c.query('SHOW pgroute.target')).rows[0]['pgroute.target']).toBe('primary');
    const hosts = [await hostOf(c), await hostOf(c), await hostOf(c)];
    expect(new Set(hosts)).toEqual(new Set([primary]));
    await c.query('RESET pgroute.target');
    // Reads the session sent to the primary count as possible writes (read-your-writes): once the
    // standbys have replayed the primary's position, reads return to them.
    await cluster.waitForReplay();
    let host = await hostOf(c);
    for (let i = 0; i < 50 && host === primary; i++) {
      await new Promise((r) => setTimeout(r, 100));
      host = await hostOf(c);
    }
    expect([standby1, standby2]).toContain(host);
    await c.end();
  });

  it('rejects an invalid pgroute setting with 22023 and keeps the connection', async () => {
    const c = await client();
    await expect(c.query("SET pgroute.target TO 'nowhere'")).rejects.toMatchObject({ code: '22023' });
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.end();
  });
});

describe('pgbench through auto', () => {
  beforeAll(async () => {
    await run('psql', [tp.url({ mode: 'rw' }), '-c', 'CREATE SCHEMA IF NOT EXISTS bench_auto'], {
      env: process.env,
    });
    await run('pgbench', ['-i', '-s', '1', '-q', tp.url({ mode: 'rw' })], {
      env: { ...process.env, PGOPTIONS: '-c search_path=bench_auto' },
    });
    await cluster.waitForReplay();
  }, 120_000);

  afterAll(async () => {
    await run('psql', [tp.url({ mode: 'rw' }), '-c', 'DROP SCHEMA IF EXISTS bench_auto CASCADE'], {
      env: process.env,
    });
  });

  function routedTo(role: string): number {
    let n = 0;
    for (const [k, v] of tp.proxy.stats.routed)
      if (k.startsWith('auto@') && k.split('\0')[1] === role) n += v;
    return n;
  }

  for (const mode of ['simple', 'extended', 'prepared'] as const) {
    for (const script of ['select-only', 'tpcb-like'] as const) {
      it(`runs pgbench -b ${script} -M ${mode} at 32 clients with no errors`, async () => {
        const before = routedTo('standby');
        const { stdout } = await run(
          'pgbench',
          ['-n', '-b', script, '-M', mode, '-c', '32', '-j', '2', '-t', '30', tp.url({ mode: 'auto' })],
          { env: { ...process.env, PGOPTIONS: '-c search_path=bench_auto' }, maxBuffer: 10 << 20 },
        );
        expect(stdout).toMatch(/number of transactions actually processed: 960\/960/);
        expect(stdout).toMatch(/number of failed transactions: 0 /);
        if (script === 'select-only') expect(routedTo('standby') - before).toBeGreaterThanOrEqual(960);
      }, 120_000);
    }
  }
});
