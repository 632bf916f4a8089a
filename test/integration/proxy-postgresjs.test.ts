// postgres.js through pgroute: its prepared statements, COPY both ways, LISTEN/NOTIFY, cancel, pipelining.

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { REPLY_BATCHING, startTestProxy, type TestProxy } from '../harness/proxy.js';

let tp: TestProxy;
let sql: postgres.Sql;
const table = `pgjs_${process.pid}`;

describe.each(REPLY_BATCHING)('postgres.js through pgroute, $name', (batching) => {
  beforeAll(async () => {
    tp = await startTestProxy(sharedCluster(), { pool: { size: 3 } }, { turnBatcher: batching.make() });
    // postgres.js prepares every statement by default (named, reused): the hard case for transaction pooling.
    sql = postgres({ ...tp.params({ mode: 'rw' }), max: 6, onnotice: () => {} });
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
  });

  afterAll(async () => {
    await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
    await sql.end();
    await tp.stop();
  });

  it('runs prepared statements concurrently across many transactions', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => sql`SELECT ${i}::int * 3 AS v`));
    for (const [i, r] of results.entries()) expect(r[0]!.v).toBe(i * 3);
  });

  it('runs a transaction with sql.begin and commits it', async () => {
    await sql.begin(async (tx) => {
      await tx`INSERT INTO ${sql(table)} ${sql({ id: 1, v: 'a' })}`;
      await tx`INSERT INTO ${sql(table)} ${sql({ id: 2, v: 'b' })}`;
    });
    const rows = await sql`SELECT id, v FROM ${sql(table)} ORDER BY id`;
    expect(rows.map((r) => [r.id, r.v])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
  });

  it('copies rows in with COPY FROM STDIN and out with COPY TO STDOUT', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `${1000 + i}\tcopied-${i}\n`);
    const writable = await sql.unsafe(`COPY ${table} (id, v) FROM STDIN`).writable();
    await pipeline(Readable.from(lines), writable);
    const [count] = await sql`SELECT count(*)::int AS n FROM ${sql(table)} WHERE id >= 1000`;
    expect(count!.n).toBe(5000);

    const chunks: Buffer[] = [];
    const readable = await sql
      .unsafe(`COPY (SELECT id, v FROM ${table} WHERE id >= 1000 ORDER BY id) TO STDOUT`)
      .readable();
    await pipeline(
      readable,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          chunks.push(chunk);
          cb();
        },
      }),
    );
    const out = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean);
    expect(out.length).toBe(5000);
    expect(out[4999]).toBe('5999\tcopied-4999');
  });

  it('copies 30 MB in, more than the sockets hold, without losing or reordering a byte', async () => {
    // Writes to the server then have to wait for it (backpressure): the client is paused until the
    // server connection drains, and nothing may be dropped, duplicated or reordered meanwhile.
    const big = `${table}_big`;
    await sql.unsafe(`CREATE TABLE ${big} (id int, v text)`);
    try {
      const rows = 300_000;
      const pad = 'x'.repeat(90);
      function* lines(): Generator<string> {
        // Several rows per chunk, as a driver batches them.
        for (let i = 0; i < rows; i += 100) {
          let chunk = '';
          for (let j = i; j < i + 100; j++) chunk += `${j}\t${pad}${j % 997}\n`;
          yield chunk;
        }
      }
      const writable = await sql.unsafe(`COPY ${big} (id, v) FROM STDIN`).writable();
      await pipeline(Readable.from(lines()), writable);
      const [r] = await sql.unsafe(
        `SELECT count(*)::int AS n, sum(id)::bigint AS ids,
                bool_and(v = repeat('x', 90) || (id % 997)::text) AS intact FROM ${big}`,
      );
      expect(r!.n).toBe(rows);
      expect(BigInt(r!.ids)).toBe(BigInt((rows * (rows - 1)) / 2));
      expect(r!.intact).toBe(true);
    } finally {
      await sql.unsafe(`DROP TABLE ${big}`);
    }
  }, 60_000);

  it('delivers NOTIFY to a LISTEN session', async () => {
    const listener = postgres({ ...tp.params({ mode: 'rw' }), max: 1 });
    try {
      const got = new Promise<string>((resolve) => {
        void listener.listen('pgroute_test_channel', (payload) => resolve(payload));
      });
      // Give LISTEN its round trip, then notify from another connection.
      await new Promise((r) => setTimeout(r, 300));
      await sql`SELECT pg_notify('pgroute_test_channel', 'hello')`;
      expect(await got).toBe('hello');
    } finally {
      await listener.end();
    }
  });

  it('cancels a running pg_sleep with a CancelRequest', async () => {
    const started = Date.now();
    const q = sql`SELECT pg_sleep(30)`;
    setTimeout(() => q.cancel(), 300);
    await expect(q).rejects.toMatchObject({ code: '57014' });
    expect(Date.now() - started).toBeLessThan(20_000);
    const [row] = await sql`SELECT 1 AS ok`;
    expect(row!.ok).toBe(1);
  });

  it('surfaces an error and then keeps working on the same connection', async () => {
    const one = postgres({ ...tp.params({ mode: 'rw' }), max: 1 });
    try {
      await expect(one`SELECT 1/0`).rejects.toMatchObject({ code: '22012' });
      const [row] = await one`SELECT 'after' AS v`;
      expect(row!.v).toBe('after');
    } finally {
      await one.end();
    }
  });

  it('pipelines many queries on one connection', async () => {
    const one = postgres({ ...tp.params({ mode: 'rw' }), max: 1 });
    try {
      const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => one`SELECT ${i}::int AS i`));
      for (const [i, r] of rs.entries()) expect(r[0]!.i).toBe(i);
    } finally {
      await one.end();
    }
  });
});
