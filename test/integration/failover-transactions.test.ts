// Transactions and held writes across a dead primary, through pgroute: 25P02 until ROLLBACK, then wait; 57P03 on timeout.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { Load } from '../harness/load.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const table = 'failover_transactions';
const WAIT_MS = 15_000;
const PRIMARY_WAIT_MS = 1_500;

let cluster: LocalCluster;
/** Default primary wait (30 s): writes outlast a failover. */
let tp: TestProxy;
/** routing.primaryWaitTimeout 1500ms: writes give up when no primary comes. */
let tpShort: TestProxy;

const idOf = (name: string) => `${cluster.instance(name).host}:${cluster.instance(name).port}`;

interface WatchedClient {
  client: pg.Client;
  closes: string[];
}

async function connect(proxy: TestProxy): Promise<WatchedClient> {
  const client = new pg.Client(proxy.params({ mode: 'auto' }));
  const closes: string[] = [];
  client.on('error', (err) => closes.push(`error: ${err.message}`));
  client.on('end', () => closes.push('end'));
  await client.connect();
  return { client, closes };
}

/** Settles to the query's outcome: its SQLSTATE, or 'ok'. */
function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (err: { code?: string; message?: string }) => err.code ?? `no code: ${err.message}`,
  );
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 140 });
  // Both proxies start while every instance is up: startTestProxy waits for all roles to be known.
  [tp, tpShort] = await Promise.all([
    startTestProxy(cluster),
    startTestProxy(cluster, { routing: { primaryWaitTimeout: `${PRIMARY_WAIT_MS}ms` } }),
  ]);
  const admin = new pg.Client(tp.params({ mode: 'rw' }));
  await admin.connect();
  await admin.query(Load.createTableSql(table));
  await admin.end();
  await cluster.waitForReplay();
});

afterAll(async () => {
  await Promise.all([tp?.stop(), tpShort?.stop()]);
  await cluster?.destroy();
});

describe('a transaction whose primary dies (pg0 killed, pg1 promoted)', () => {
  let c: WatchedClient;
  const seen: Record<string, string> = {};
  let rollbackCommand = '';
  let isWritePendingBeforePromotion = false;

  beforeAll(async () => {
    c = await connect(tp);
    await c.client.query('BEGIN');
    await c.client.query(`INSERT INTO ${table} (id, writer) VALUES (1, 'tx')`);
    const inFlight = outcome(c.client.query('SELECT pg_sleep(30)'));
    // The statement must be running on pg0 when it dies.
    for (let i = 0; i < 200; i++) {
      const rows = await cluster.query(
        'pg0',
        `SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'`,
      );
      if (rows.length > 0) break;
      await sleep(10);
    }
    await cluster.stop('pg0', 'immediate');
    seen.inFlight = await inFlight;
    seen.next = await outcome(c.client.query(`INSERT INTO ${table} (id, writer) VALUES (2, 'tx')`));
    seen.nextSimple = await outcome(c.client.query('SELECT 1'));
    rollbackCommand = (await c.client.query('ROLLBACK')).command;
    // No primary yet: this write waits in pgroute until the promotion.
    const held = outcome(c.client.query(`INSERT INTO ${table} (id, writer) VALUES (3, 'after')`));
    const early = await Promise.race([held, sleep(300).then(() => 'pending')]);
    isWritePendingBeforePromotion = early === 'pending';
    await cluster.promote('pg1');
    seen.held = await held;
    await cluster.repoint('pg2', 'pg1');
    await Promise.all(
      [tp, tpShort].map((p) => p.proxy.discovery.waitFor((s) => s.primaryId === idOf('pg1'), WAIT_MS)),
    );
    console.log(
      `[failover-transactions] in a block when pg0 died: running statement -> ${seen.inFlight}, next -> ${seen.next}, then -> ${seen.nextSimple}, ROLLBACK -> ${rollbackCommand}, new write pending before promotion: ${isWritePendingBeforePromotion}, after it -> ${seen.held}`,
    );
  });

  afterAll(async () => {
    await c?.client.end().catch(() => {});
  });

  it('fails the statement that was running with a connection error', () => {
    expect(seen.inFlight).toMatch(/^(57P01|57P02|08006)$/);
  });

  it('answers the next statement of the block with 25P02', () => {
    expect(seen.next).toBe('25P02');
  });

  it('keeps answering 25P02 until the block ends', () => {
    expect(seen.nextSimple).toBe('25P02');
  });

  it('accepts ROLLBACK although the server is gone', () => {
    expect(rollbackCommand).toBe('ROLLBACK');
  });

  it('holds a new write while there is no primary', () => {
    expect(isWritePendingBeforePromotion).toBe(true);
  });

  it('runs the held write on the new primary', async () => {
    expect(seen.held).toBe('ok');
    const rows = await cluster.query<{ id: string }>(
      'pg1',
      `SELECT id::text AS id FROM ${table} ORDER BY id`,
    );
    expect(rows.map((r) => Number(r.id))).toEqual([3]);
  });

  it('never closes the client connection', async () => {
    const r = await c.client.query('SELECT 42 AS answer');
    expect(r.rows[0].answer).toBe(42);
    expect(c.closes).toEqual([]);
  });
});

describe('a write with no primary to go to (pg1 stopped, nothing promoted)', () => {
  let writer: WatchedClient;
  let reader: WatchedClient;
  let writeError: { code?: string; message?: string } | null = null;
  let waitedMs = 0;
  const readOutcomes: string[] = [];

  beforeAll(async () => {
    writer = await connect(tpShort);
    reader = await connect(tpShort);
    await cluster.stop('pg1', 'immediate');
    await tpShort.proxy.discovery.waitFor((s) => s.primaryId === null, WAIT_MS);
    const startedAt = Date.now();
    const write = writer.client.query(`INSERT INTO ${table} (id, writer) VALUES (4, 'orphan')`).then(
      () => null,
      (err: { code?: string; message?: string }) => err,
    );
    let isDone = false;
    void write.then(() => {
      isDone = true;
    });
    // Reads keep flowing to the standby while the write waits.
    while (!isDone) {
      readOutcomes.push(await outcome(reader.client.query(`SELECT count(*) FROM ${table}`)));
      await sleep(50);
    }
    writeError = await write;
    waitedMs = Date.now() - startedAt;
    console.log(
      `[failover-transactions] write without a primary failed after ${waitedMs} ms (primaryWaitTimeout ${PRIMARY_WAIT_MS} ms) with ${writeError?.code}: ${writeError?.message}; ${readOutcomes.length} reads meanwhile`,
    );
  });

  afterAll(async () => {
    await Promise.all([writer?.client.end().catch(() => {}), reader?.client.end().catch(() => {})]);
  });

  it('fails the write with SQLSTATE 57P03', () => {
    expect(writeError?.code).toBe('57P03');
  });

  it('says why the write failed', () => {
    expect(writeError?.message).toMatch(/no primary became available within 1500 ms/);
  });

  it('waits for a primary before failing instead of failing at once', () => {
    // A lower bound only: the wait is a timer that cannot fire early; slowness cannot fail this.
    expect(waitedMs).toBeGreaterThanOrEqual(PRIMARY_WAIT_MS - 100);
  });

  it('keeps serving reads while the write waits', () => {
    expect(readOutcomes.length).toBeGreaterThan(0);
    expect(readOutcomes.filter((o) => o !== 'ok')).toEqual([]);
  });

  it('keeps the writer connected and able to read', async () => {
    const r = await writer.client.query('SELECT 7 AS seven');
    expect(r.rows[0].seven).toBe(7);
    expect(writer.closes).toEqual([]);
  });
});
