// User functions: volatile ones (may write) go to the primary once the catalog knows them; stable ones stay on standbys.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const cluster = sharedCluster();
const suffix = process.pid;
let tp: TestProxy;
let rw: pg.Client;
let auto: pg.Client;

beforeAll(async () => {
  tp = await startTestProxy(cluster);
  rw = new pg.Client(tp.params({ mode: 'rw' }));
  auto = new pg.Client(tp.params({ mode: 'auto' }));
  await rw.connect();
  await auto.connect();
});

afterAll(async () => {
  await rw.query(
    `DROP FUNCTION IF EXISTS bump_${suffix}(); DROP FUNCTION IF EXISTS peek_${suffix}(); DROP FUNCTION IF EXISTS flip_${suffix}(int); DROP TABLE IF EXISTS counter_${suffix}`,
  );
  await rw.end();
  await auto.end();
  await tp.stop();
});

async function routeOf(sql: string): Promise<string> {
  await auto.query(sql);
  return (await auto.query('SHOW pgroute.last_route')).rows[0]['pgroute.last_route'];
}

describe('user functions', () => {
  it('sends a SELECT calling a new volatile function to the primary, and a stable one to a standby', async () => {
    await rw.query(`CREATE TABLE counter_${suffix} (n int); INSERT INTO counter_${suffix} VALUES (0)`);
    await rw.query(
      `CREATE FUNCTION bump_${suffix}() RETURNS int VOLATILE LANGUAGE sql AS 'UPDATE counter_${suffix} SET n = n + 1 RETURNING n'`,
    );
    await rw.query(`CREATE FUNCTION peek_${suffix}() RETURNS int STABLE LANGUAGE sql AS 'SELECT 42'`);
    await cluster.waitForReplay();
    // The catalog reloads after the DDL commits; give it a moment, then the route must be the primary.
    let route = '';
    for (let i = 0; i < 40; i++) {
      route = await routeOf(`SELECT bump_${suffix}()`);
      if (route.startsWith('primary')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(route).toMatch(/^primary .* write$/);
    // bump() wrote, so reads follow it to the primary until the standbys replay that write.
    await cluster.waitForReplay();
    let peek = '';
    for (let i = 0; i < 40; i++) {
      peek = await routeOf(`SELECT peek_${suffix}()`);
      if (!peek.includes('read-your-writes')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(peek).toMatch(/^standby .* read$/);
  });

  it('re-routes a repeated Parse of the same session once its function becomes volatile', async () => {
    // A parameterised query is an unnamed Parse, byte for byte the same each time: the session
    // reuses its classification until the function catalog changes.
    const sql = `SELECT flip_${suffix}($1::int) AS v`;
    await rw.query(`CREATE FUNCTION flip_${suffix}(int) RETURNS int STABLE LANGUAGE sql AS 'SELECT $1'`);
    await cluster.waitForReplay();
    const routeOfParse = async (): Promise<string> => {
      await auto.query(sql, [1]);
      return (await auto.query('SHOW pgroute.last_route')).rows[0]['pgroute.last_route'];
    };
    let route = '';
    for (let i = 0; i < 40 && !route.startsWith('standby'); i++) {
      route = await routeOfParse();
      if (!route.startsWith('standby')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(route).toMatch(/^standby .* read$/);
    expect(await routeOfParse()).toMatch(/^standby .* read$/);
    await rw.query(
      `CREATE OR REPLACE FUNCTION flip_${suffix}(int) RETURNS int VOLATILE LANGUAGE sql AS 'SELECT $1'`,
    );
    for (let i = 0; i < 40 && !route.startsWith('primary'); i++) {
      route = await routeOfParse();
      if (!route.startsWith('primary')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(route).toMatch(/^primary .* write$/);
  });
});
