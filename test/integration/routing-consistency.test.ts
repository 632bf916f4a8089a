// Read-your-writes and lag limits under real replication delay (a private cluster: the standbys are delayed).

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let cluster: LocalCluster;
let tp: TestProxy;
let primary: string;
let standbys: string[];

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 150 });
  [primary, ...standbys] = cluster.descriptor.instances.map((i) => i.host) as [string, ...string[]];
  tp = await startTestProxy(cluster, { routing: { maxLagBytes: 256 * 1024, maxLagSeconds: null } });
  const c = await connect('rw');
  await c.query('CREATE TABLE ryw (id int PRIMARY KEY, v text)');
  await c.end();
  await cluster.waitForReplay();
}, 120_000);

afterAll(async () => {
  await tp?.stop();
  await cluster?.destroy();
});

async function connect(mode: 'auto' | 'rw' = 'auto'): Promise<pg.Client> {
  const c = new pg.Client(tp.params({ mode }));
  await c.connect();
  return c;
}

const host = (r: pg.QueryResult): string => String(r.rows[0].host).replace(/\/32$/, '');

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('read-your-writes', () => {
  it('never misses its own insert in 1,000 iterations while the standbys apply 2 s late', async () => {
    await cluster.setApplyDelay('pg1', 2000);
    await cluster.setApplyDelay('pg2', 2000);
    const writer = await connect();
    const other = await connect();
    try {
      const readHosts = new Map<string, number>();
      let misses = 0;
      for (let i = 1; i <= 1000; i++) {
        await writer.query('INSERT INTO ryw VALUES ($1, $2)', [i, `row-${i}`]);
        const r = await writer.query('SELECT v, inet_server_addr()::text AS host FROM ryw WHERE id = $1', [
          i,
        ]);
        if (r.rows.length !== 1 || r.rows[0].v !== `row-${i}`) misses++;
        readHosts.set(host(r), (readHosts.get(host(r)) ?? 0) + 1);
      }
      expect(misses).toBe(0);
      // Every standby is 2 s behind, so the reads after each write were served by the primary.
      expect(readHosts.get(primary)).toBe(1000);
      // A session that wrote nothing still reads from the (stale) standbys.
      const r = await other.query('SELECT count(*)::int AS n, inet_server_addr()::text AS host FROM ryw');
      expect(standbys).toContain(host(r));
    } finally {
      await writer.end();
      await other.end();
      await cluster.setApplyDelay('pg1', 0);
      await cluster.setApplyDelay('pg2', 0);
    }
  }, 120_000);

  it('returns reads after a write to the standbys once they have replayed it', async () => {
    const c = await connect();
    try {
      await c.query("INSERT INTO ryw VALUES (5001, 'late')");
      const lsn = (await c.query('SHOW pgroute.last_lsn')).rows[0]['pgroute.last_lsn'];
      expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      let lastHost = '';
      const reached = await waitUntil(async () => {
        const r = await c.query('SELECT v, inet_server_addr()::text AS host FROM ryw WHERE id = 5001');
        expect(r.rows[0]?.v).toBe('late');
        lastHost = host(r);
        return standbys.includes(lastHost);
      }, 10_000);
      expect(reached, `reads stayed on ${lastHost}`).toBe(true);
    } finally {
      await c.end();
    }
  }, 30_000);

  it('carries causality to another connection with SET pgroute.min_lsn', async () => {
    await cluster.setApplyDelay('pg1', 3000);
    await cluster.setApplyDelay('pg2', 3000);
    const writer = await connect();
    const reader = await connect();
    try {
      await writer.query("INSERT INTO ryw VALUES (6001, 'carried')");
      const lsn = (await writer.query('SHOW pgroute.last_lsn')).rows[0]['pgroute.last_lsn'];
      await reader.query(`SET pgroute.min_lsn TO '${lsn}'`);
      const r = await reader.query('SELECT v, inet_server_addr()::text AS host FROM ryw WHERE id = 6001');
      expect(r.rows[0]?.v).toBe('carried');
      expect(host(r)).toBe(primary);
      expect((await reader.query('SHOW pgroute.last_route')).rows[0]['pgroute.last_route']).toContain(
        'read-your-writes',
      );
    } finally {
      await writer.end();
      await reader.end();
      await cluster.setApplyDelay('pg1', 0);
      await cluster.setApplyDelay('pg2', 0);
    }
  }, 30_000);
});

describe('read-your-writes without standbys', () => {
  it('asks a primary-only topology for no LSN after a write, and reads the write back', async () => {
    const only = cluster.descriptor.instances[0]!;
    const solo = await startTestProxy(cluster, { cluster: { hosts: [`${only.host}:${only.port}`] } });
    const c = new pg.Client(solo.params({ mode: 'auto' }));
    await c.connect();
    try {
      await c.query("INSERT INTO ryw VALUES (7001, 'solo')");
      // With standbys this is the write's LSN (see above); with none, no query asked for it.
      expect((await c.query('SHOW pgroute.last_lsn')).rows[0]['pgroute.last_lsn']).toBeNull();
      const r = await c.query('SELECT v, inet_server_addr()::text AS host FROM ryw WHERE id = 7001');
      expect([r.rows[0]?.v, host(r)]).toEqual(['solo', primary]);
    } finally {
      await c.end();
      await solo.stop();
    }
  }, 30_000);
});

describe('lag limits', () => {
  it('gives a standby past the byte-lag limit no reads until it catches up', async () => {
    await cluster.setApplyDelay('pg1', 3000);
    const w = await connect('rw');
    const r = await connect();
    try {
      // Separate commits: apply delay holds each commit record, so the WAL after the first one
      // (about 1 MB) waits unreplayed on pg1 for 3 s (the limit is 256 kB).
      const payload = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 125))";
      for (let i = 0; i < 300; i++) await w.query(`INSERT INTO ryw VALUES ($1, ${payload})`, [10_000 + i]);
      const pg2 = standbys[1]!;
      const pg1 = standbys[0]!;
      // pg1 is held back; pg2 (not delayed) catches up within a probe or two.
      const lagging = await waitUntil(async () => {
        const s = tp.proxy.discovery.current().instances;
        const lag = (h: string) => s.find((i) => i.host === h)?.lagBytes ?? 0;
        return lag(pg1) > 256 * 1024 && lag(pg2) <= 256 * 1024;
      }, 5_000);
      expect(lagging).toBe(true);
      const hosts = [];
      for (let i = 0; i < 10; i++) hosts.push(host(await r.query('SELECT inet_server_addr()::text AS host')));
      expect(new Set(hosts)).toEqual(new Set([pg2]));
      await cluster.setApplyDelay('pg1', 0);
      const back = await waitUntil(
        async () => host(await r.query('SELECT inet_server_addr()::text AS host')) === pg1,
        10_000,
      );
      expect(back).toBe(true);
    } finally {
      await w.end();
      await r.end();
      await cluster.setApplyDelay('pg1', 0);
    }
  }, 60_000);
});
