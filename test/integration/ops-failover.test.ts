// Operations during trouble: lag gauges follow a delayed standby; health endpoints and the failover counter through a real failover.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let cluster: LocalCluster;
let tp: TestProxy;

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 190 });
  tp = await startTestProxy(cluster);
  const c = new pg.Client(tp.params({ mode: 'rw' }));
  await c.connect();
  await c.query('CREATE TABLE ops_t (id serial PRIMARY KEY, pad text)');
  await c.end();
}, 120_000);

afterAll(async () => {
  await tp?.stop();
  await cluster?.destroy();
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${tp.proxy.httpPort}${path}`);
  return { status: r.status, body: await r.text() };
}

/** Sum of a metric's samples whose labels contain every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').pop());
  }
  return sum;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('metrics and health during trouble', () => {
  it('shows replication lag in bytes for a standby that applies late, and back to 0 after', async () => {
    const pg1 = cluster.instance('pg1');
    const id = `${pg1.host}:${pg1.port}`;
    await cluster.setApplyDelay('pg1', 3000);
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    await c.connect();
    try {
      const payload = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 64))";
      for (let i = 0; i < 100; i++) await c.query(`INSERT INTO ops_t (pad) VALUES (${payload})`);
      const lagged = await until(
        async () =>
          sample((await get('/metrics')).body, 'pgroute_instance_replication_lag_bytes', { instance: id }) >
          64 * 1024,
        5000,
      );
      expect(lagged).toBe(true);
      await cluster.setApplyDelay('pg1', 0);
      const caught = await until(
        async () =>
          sample((await get('/metrics')).body, 'pgroute_instance_replication_lag_bytes', { instance: id }) ===
          0,
        10_000,
      );
      expect(caught).toBe(true);
    } finally {
      await c.end();
      await cluster.setApplyDelay('pg1', 0);
    }
  }, 60_000);

  it('keeps /readyz and /healthz at 200 through a failover while /primary goes 503 then 200, and counts the failover', async () => {
    const before = sample((await get('/metrics')).body, 'pgroute_failovers_total');
    expect((await get('/primary')).status).toBe(200);
    const c = new pg.Client(tp.params({ mode: 'auto' }));
    c.on('error', () => {});
    await c.connect();
    try {
      await cluster.stop('pg0', 'immediate');
      const noPrimary = await until(async () => (await get('/primary')).status === 503, 5000);
      expect(noPrimary).toBe(true);
      expect((await get('/readyz')).status).toBe(200);
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/replica')).status).toBe(200);
      // A write sent now waits for the new primary instead of failing.
      const write = c.query(
        "INSERT INTO ops_t (pad) VALUES ('after') RETURNING inet_server_addr()::text AS host",
      );
      await cluster.promote('pg1');
      await cluster.repoint('pg2', 'pg1');
      const r = await write;
      expect(String(r.rows[0].host).replace(/\/32$/, '')).toBe(cluster.instance('pg1').host);
      expect((await get('/primary')).status).toBe(200);
      const text = (await get('/metrics')).body;
      expect(sample(text, 'pgroute_failovers_total')).toBe(before + 1);
      expect(sample(text, 'pgroute_last_failover_duration_seconds')).toBeGreaterThan(0);
      const status = JSON.parse((await get('/status')).body);
      expect(JSON.stringify(status)).toContain(
        `${cluster.instance('pg1').host}:${cluster.instance('pg1').port}`,
      );
    } finally {
      await c.end().catch(() => undefined);
    }
  }, 60_000);
});
