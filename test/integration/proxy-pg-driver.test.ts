// node-postgres through pgroute (transaction pooling): parameters, named statements across servers, transactions, errors, big results.

import { createHash } from 'node:crypto';
import type net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { REPLY_BATCHING, startTestProxy, type TestProxy } from '../harness/proxy.js';

let tp: TestProxy;
const table = `pg_driver_${process.pid}`;

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, mode: 'rw' | 'auto' = 'rw'): Promise<T> {
  const c = new pg.Client(tp.params({ mode }));
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe.each(REPLY_BATCHING)('node-postgres through pgroute, $name', (batching) => {
  beforeAll(async () => {
    // A pool of 2 server connections for 8 clients forces every client onto several server connections.
    tp = await startTestProxy(sharedCluster(), { pool: { size: 2 } }, { turnBatcher: batching.make() });
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    await c.connect();
    await c.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
    await c.end();
  });

  afterAll(async () => {
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.end();
    await tp.stop();
  });

  it('runs a parameterised query and gets typed results', async () => {
    const r = await withClient((c) => c.query('SELECT $1::int + $2::int AS sum, $3::text AS t', [2, 3, 'x']));
    expect(r.rows).toEqual([{ sum: 5, t: 'x' }]);
  });

  it('reports the server parameters exactly as PostgreSQL does', async () => {
    await withClient(async (c) => {
      const params = (c as unknown as { connectionParameters: unknown; _pgroute?: unknown }) && c;
      const enc = await c.query('SHOW client_encoding');
      expect(enc.rows[0].client_encoding).toBe('UTF8');
      expect(params).toBeDefined();
    });
  });

  it('reuses named prepared statements across many transactions on different server connections', async () => {
    const clients = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const c = new pg.Client(tp.params({ mode: 'rw' }));
        await c.connect();
        return c;
      }),
    );
    try {
      const pids = new Set<number>();
      await Promise.all(
        clients.map(async (c, k) => {
          for (let i = 0; i < 25; i++) {
            const r = await c.query({
              name: 'add-and-pid',
              text: 'SELECT $1::int * 2 AS v, pg_backend_pid() AS pid',
              values: [k * 100 + i],
            });
            expect(r.rows[0].v).toBe((k * 100 + i) * 2);
            pids.add(r.rows[0].pid);
          }
        }),
      );
      // Eight clients shared two server connections: each client's statement ran on both.
      expect(pids.size).toBe(2);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('keeps a transaction on one server connection and commits it', async () => {
    await withClient(async (c) => {
      await c.query('BEGIN');
      const a = await c.query('SELECT pg_backend_pid() AS pid');
      await c.query(`INSERT INTO ${table} VALUES (1, 'one')`);
      const b = await c.query('SELECT pg_backend_pid() AS pid');
      await c.query('COMMIT');
      expect(b.rows[0].pid).toBe(a.rows[0].pid);
      const r = await c.query(`SELECT v FROM ${table} WHERE id = 1`);
      expect(r.rows[0].v).toBe('one');
    });
  });

  it('rolls back a failed transaction and keeps the connection usable', async () => {
    await withClient(async (c) => {
      await c.query('BEGIN');
      await c.query(`INSERT INTO ${table} VALUES (2, 'two')`);
      await expect(c.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await c.query('ROLLBACK');
      const r = await c.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 2`);
      expect(r.rows[0].n).toBe(0);
    });
  });

  it('recovers after an error in an extended-protocol query', async () => {
    await withClient(async (c) => {
      await expect(c.query({ name: 'bad', text: 'SELECT $1::int / 0', values: [1] })).rejects.toMatchObject({
        code: '22012',
      });
      await expect(c.query('SELECT nosuchcolumn FROM pg_class')).rejects.toMatchObject({ code: '42703' });
      const r = await c.query({ name: 'good', text: 'SELECT $1::text AS t', values: ['ok'] });
      expect(r.rows[0].t).toBe('ok');
    });
  });

  it('reports a statement that does not exist as PostgreSQL does', async () => {
    await withClient(async (c) => {
      // Same name, different text: pg re-uses the name, PostgreSQL would reject it; we accept the new text.
      await c.query({ name: 's1', text: 'SELECT 1 AS a' });
      await expect(c.query('EXECUTE nosuch')).rejects.toMatchObject({ code: '26000' });
    });
  });

  it('streams a 10 MB result', async () => {
    const r = await withClient((c) =>
      c.query("SELECT g AS n, repeat('x', 100) AS pad FROM generate_series(1, 100000) g"),
    );
    expect(r.rows.length).toBe(100000);
    expect(r.rows[99999].n).toBe(100000);
    const big = await withClient((c) => c.query("SELECT repeat('y', 10 * 1024 * 1024) AS blob"));
    expect(big.rows[0].blob.length).toBe(10 * 1024 * 1024);
  });

  it('relays a large result byte for byte to a client that stops reading for a while', async () => {
    // The proxy reuses a server read's memory only once the client socket took all of it: a client
    // that does not read makes the proxy's writes queue up, and those bytes must not be overwritten.
    // 400,000 rows (36 MB) are more than loopback socket buffers hold, so writes do queue.
    const rows = await withClient(async (c) => {
      const stream = (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
      const q = c.query(
        'SELECT g AS n, md5(g::text) AS h, repeat(chr(65 + g % 26), 40) AS pad FROM generate_series(1, 400000) g',
      );
      stream.pause();
      await new Promise((r) => setTimeout(r, 300));
      stream.resume();
      return (await q).rows as { n: number; h: string; pad: string }[];
    });
    expect(rows.length).toBe(400000);
    let bad = 0;
    for (const [i, r] of rows.entries()) {
      const n = i + 1;
      const ok =
        r.n === n &&
        r.h === createHash('md5').update(String(n)).digest('hex') &&
        r.pad === String.fromCharCode(65 + (n % 26)).repeat(40);
      if (!ok) bad++;
    }
    expect(bad).toBe(0);
  }, 30_000); // a corrupted stream desynchronises the driver, which then waits for ever

  it('passes startup parameters such as statement_timeout and application_name to the server', async () => {
    const c = new pg.Client({
      ...tp.params({ mode: 'rw' }),
      statement_timeout: 150,
      application_name: 'pgroute-test-app',
    });
    await c.connect();
    try {
      const r = await c.query('SELECT current_setting($1) AS st, current_setting($2) AS app', [
        'statement_timeout',
        'application_name',
      ]);
      expect(r.rows[0]).toEqual({ st: '150ms', app: 'pgroute-test-app' });
      await expect(c.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await c.end();
    }
  });

  it("does not leak one client's settings to another client sharing the server connection", async () => {
    const a = new pg.Client({
      ...tp.params({ mode: 'rw' }),
      application_name: 'client-a',
      options: '-c search_path=pg_catalog,public',
    });
    const b = new pg.Client({ ...tp.params({ mode: 'rw' }) });
    await a.connect();
    await b.connect();
    try {
      for (let i = 0; i < 5; i++) {
        const ra = await a.query(
          "SELECT current_setting('application_name') AS app, current_setting('search_path') AS sp",
        );
        const rb = await b.query(
          "SELECT current_setting('application_name') AS app, current_setting('search_path') AS sp",
        );
        expect(ra.rows[0]).toEqual({ app: 'client-a', sp: 'pg_catalog,public' });
        expect(rb.rows[0].app).toBe('');
        expect(rb.rows[0].sp).toBe('"$user", public');
      }
    } finally {
      await a.end();
      await b.end();
    }
  });

  it('replays a session-level SET on whichever server runs the next transaction', async () => {
    await withClient(async (c) => {
      await c.query("SET TimeZone TO 'Asia/Tokyo'");
      await c.query("SET work_mem TO '7MB'");
      for (let i = 0; i < 6; i++) {
        const r = await c.query(
          "SELECT current_setting('TimeZone') AS tz, current_setting('work_mem') AS wm",
        );
        expect(r.rows[0]).toEqual({ tz: 'Asia/Tokyo', wm: '7MB' });
      }
    });
  });

  it('rejects a wrong password with 28P01', async () => {
    const c = new pg.Client({ ...tp.params({ mode: 'rw' }), password: 'wrong' });
    await expect(c.connect()).rejects.toMatchObject({ code: '28P01' });
  });

  it('rejects an unknown user with 28P01 and an unknown database with 3D000', async () => {
    const u = new pg.Client({ ...tp.params({ mode: 'rw' }), user: 'nobody' });
    await expect(u.connect()).rejects.toMatchObject({ code: '28P01' });
    const d = new pg.Client({ ...tp.params({ mode: 'rw' }), database: 'nosuchdb' });
    await expect(d.connect()).rejects.toMatchObject({ code: '3D000' });
  });

  it('authenticates md5 and trust users', async () => {
    for (const user of ['md5', 'trust'] as const) {
      const c = new pg.Client(tp.params({ mode: 'rw', user }));
      await c.connect();
      const r = await c.query('SELECT current_user AS u');
      expect(r.rows[0].u).toBe(tp.params({ user }).user);
      await c.end();
    }
  });
});
