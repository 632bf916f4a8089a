// Session pooling resets a server with DISCARD ALL before reuse; transaction pooling pins sessions that hold server state.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let session: TestProxy;
let transaction: TestProxy;

beforeAll(async () => {
  session = await startTestProxy(sharedCluster(), { pool: { mode: 'session', size: 1 } });
  transaction = await startTestProxy(sharedCluster(), { pool: { mode: 'transaction', size: 2 } });
});

afterAll(async () => {
  await session.stop();
  await transaction.stop();
});

async function connect(tp: TestProxy): Promise<pg.Client> {
  const c = new pg.Client(tp.params({ mode: 'rw' }));
  await c.connect();
  return c;
}

describe('session pooling', () => {
  it('hands the next client the same server connection, reset to a clean session', async () => {
    const a = await connect(session);
    const pidA = (await a.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    await a.query('CREATE TEMP TABLE leftover (x int)');
    await a.query("SET work_mem TO '9MB'");
    await a.query({ name: 'kept', text: 'SELECT 1' });
    await a.end();
    const b = await connect(session);
    try {
      expect((await b.query('SELECT pg_backend_pid() AS p')).rows[0].p).toBe(pidA);
      expect((await b.query("SELECT to_regclass('pg_temp.leftover') AS t")).rows[0].t).toBeNull();
      expect((await b.query("SELECT current_setting('work_mem') AS w")).rows[0].w).toBe('4MB');
      // The reset dropped the server's prepared statements; a new one with the same text still works.
      expect((await b.query({ name: 'kept', text: 'SELECT 1 AS one' })).rows[0].one).toBe(1);
    } finally {
      await b.end();
    }
  });
});

describe('transaction pooling pins what cannot move', () => {
  it('keeps a session with a temp table on its server connection across transactions', async () => {
    const c = await connect(transaction);
    const other = await connect(transaction);
    try {
      await c.query('CREATE TEMP TABLE mine (x int)');
      for (let i = 0; i < 5; i++) {
        // Another client keeps the second server connection busy in between.
        await other.query('SELECT 1');
        await c.query('INSERT INTO mine VALUES ($1)', [i]);
      }
      expect((await c.query('SELECT count(*)::int AS n FROM mine')).rows[0].n).toBe(5);
      const pinned = [...transaction.proxy.sessions].filter((s) => s.pinReason === 'temp-table');
      expect(pinned.length).toBe(1);
    } finally {
      await c.end();
      await other.end();
    }
  });

  it('survives a client that runs DISCARD ALL by re-preparing its statements', async () => {
    const c = await connect(transaction);
    try {
      await c.query({ name: 'p1', text: 'SELECT $1::int AS v', values: [1] });
      await c.query('DISCARD ALL');
      expect((await c.query({ name: 'p1', text: 'SELECT $1::int AS v', values: [2] })).rows[0].v).toBe(2);
    } finally {
      await c.end();
    }
  });
});

describe('pinning on the auto listener', () => {
  it('pins a session whose SET has a value only the server knows, so it does not leak to another client', async () => {
    const a = new pg.Client(transaction.params({ mode: 'rw' }));
    const b = new pg.Client(transaction.params({ mode: 'rw' }));
    await a.connect();
    await b.connect();
    try {
      await a.query("SELECT set_config('work_mem', $1, false)", ['9MB']);
      expect([...transaction.proxy.sessions].some((s) => s.pinReason === 'session-set')).toBe(true);
      for (let i = 0; i < 4; i++) {
        expect((await b.query("SELECT current_setting('work_mem') AS w")).rows[0].w).toBe('4MB');
        expect((await a.query("SELECT current_setting('work_mem') AS w")).rows[0].w).toBe('9MB');
      }
    } finally {
      await a.end();
      await b.end();
    }
  });

  it('runs a statement that pins (SET ROLE) on the primary, so later writes work', async () => {
    const c = new pg.Client(transaction.params({ mode: 'auto' }));
    await c.connect();
    try {
      await c.query('SET ROLE NONE');
      await c.query('CREATE TEMP TABLE after_pin (x int)');
      await c.query('INSERT INTO after_pin VALUES (1)');
      const r = await c.query('SELECT pg_is_in_recovery() AS standby FROM after_pin');
      expect(r.rows[0].standby).toBe(false);
    } finally {
      await c.end();
    }
  });
});

describe('server-side statement cache', () => {
  it('keeps at most SERVER_STATEMENT_CACHE statements per server connection and re-prepares evicted ones', async () => {
    const { SERVER_STATEMENT_CACHE } = await import('../../proxy/request-writer.js');
    const tp = await startTestProxy(sharedCluster(), { pool: { size: 1 } });
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    await c.connect();
    try {
      const n = SERVER_STATEMENT_CACHE + 50;
      for (let i = 0; i < n; i++) await c.query({ name: `s${i}`, text: `SELECT ${i}::int AS v` });
      const held = await c.query(
        "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'pgroute_%'",
      );
      expect(held.rows[0].n).toBeLessThanOrEqual(SERVER_STATEMENT_CACHE);
      // The first statement was evicted on the server; the client's name still works.
      expect((await c.query({ name: 's0', text: 'SELECT 0::int AS v' })).rows[0].v).toBe(0);
    } finally {
      await c.end();
      await tp.stop();
    }
  }, 60_000);
});
