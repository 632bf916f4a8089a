// Split brain through pgroute: the old primary comes back un-demoted next to the promoted one and must get no writes.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import type { TopologySnapshot } from '../../discovery/topology-view.js';
import { Load } from '../harness/load.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const table = 'failover_split_brain';
const WAIT_MS = 15_000;

let cluster: LocalCluster;
let tp: TestProxy;
let load: Load;
const history: { at: number; snapshot: TopologySnapshot }[] = [];
const marks = { kill: 0, promotionSeen: 0, restart: 0, strayUp: 0 };
/** Every id above this was handed to a writer after pg0 was dead. */
let lastIdBeforeKill = 0;
let newPrimary = 'pg1';
/** pgroute's data connections on pg0 after its restart (probes use the superuser). */
let appSessionsOnStray: { usename: string; application_name: string }[] = [];

const idOf = (name: string) => `${cluster.instance(name).host}:${cluster.instance(name).port}`;

/** The standby that received the most WAL: the other can follow it onto the new timeline. */
async function pickMostAdvanced(a: string, b: string): Promise<string> {
  const rows = await Promise.all(
    [a, b].map((n) => cluster.query<{ lsn: string }>(n, 'SELECT pg_last_wal_receive_lsn()::text AS lsn')),
  );
  const cmp = await cluster.query<{ isAhead: boolean }>(a, 'SELECT $1::pg_lsn > $2::pg_lsn AS "isAhead"', [
    rows[1]![0]!.lsn,
    rows[0]![0]!.lsn,
  ]);
  return cmp[0]?.isAhead ? b : a;
}

beforeAll(async () => {
  // Asynchronous on purpose: with synchronous_standby_names a write misrouted to the stray (which has
  // no standby) would hang instead of committing, and the test could not see it.
  cluster = await LocalCluster.start({ firstHost: 130 });
  tp = await startTestProxy(cluster);
  history.push({ at: Date.now(), snapshot: tp.proxy.discovery.current() });
  tp.proxy.discovery.onChange((snapshot) => history.push({ at: Date.now(), snapshot }));
  const admin = new pg.Client(tp.params({ mode: 'rw' }));
  await admin.connect();
  await admin.query(Load.createTableSql(table));
  await admin.end();
  await cluster.waitForReplay();

  load = await Load.start({ connection: tp.params({ mode: 'auto' }), table, writers: 8, readers: 8 });
  await sleep(1_000);

  marks.kill = Date.now();
  await cluster.stop('pg0', 'immediate');
  lastIdBeforeKill = load.lastIssuedId;
  newPrimary = await pickMostAdvanced('pg1', 'pg2');
  const other = newPrimary === 'pg1' ? 'pg2' : 'pg1';
  await cluster.promote(newPrimary);
  await tp.proxy.discovery.waitFor((s) => s.primaryId === idOf(newPrimary), WAIT_MS);
  marks.promotionSeen = Date.now();
  await cluster.repoint(other, newPrimary);

  marks.restart = Date.now();
  await cluster.startInstance('pg0');
  await tp.proxy.discovery.waitFor((s) => {
    const stray = s.instances.find((i) => i.id === idOf('pg0'));
    return stray?.health === 'up' && stray.role === 'primary';
  }, WAIT_MS);
  marks.strayUp = Date.now();
  // Writers keep going with two primaries in the cluster.
  await sleep(1_500);
  appSessionsOnStray = await cluster.query(
    'pg0',
    `SELECT usename, application_name FROM pg_stat_activity WHERE usename <> $1 AND backend_type = 'client backend'`,
    [cluster.descriptor.superuser],
  );
  await load.stop();

  const rel = (t: number) => `+${t - marks.kill} ms`;
  const changes = history
    .filter((h) => h.at >= marks.kill && !h.snapshot.isLagOnly)
    .map(
      (h) => `    ${rel(h.at)} v${h.snapshot.version} primary=${h.snapshot.primaryId}: ${h.snapshot.reason}`,
    );
  console.log(
    [
      `[failover-split-brain] timeline (relative to the kill of pg0; new primary ${newPrimary}):`,
      `  promotion seen ${rel(marks.promotionSeen)}, pg0 restarted ${rel(marks.restart)}, pg0 seen up as primary ${rel(marks.strayUp)}`,
      `  ids <= ${lastIdBeforeKill} were issued before the kill; ${load.acks.length} writes acknowledged in all`,
      '  topology changes:',
      ...changes,
    ].join('\n'),
  );
});

afterAll(async () => {
  await load?.stop();
  await tp?.stop();
  await cluster?.destroy();
});

describe('old primary restarted un-demoted next to the promoted one', () => {
  it('receives no id written after the failover', async () => {
    const late = await cluster.query<{ id: string }>(
      'pg0',
      `SELECT id::text AS id FROM ${table} WHERE id > $1`,
      [lastIdBeforeKill],
    );
    expect(late.map((r) => Number(r.id))).toEqual([]);
  });

  it('gets no application connection from pgroute', () => {
    expect(appSessionsOnStray).toEqual([]);
  });

  it('never shows two writable instances', () => {
    const doubles = history.filter((h) => h.snapshot.instances.filter((i) => i.isWritable).length > 1);
    expect(doubles.map((h) => h.snapshot.reason)).toEqual([]);
  });

  it('never makes the restarted old primary writable', () => {
    const since = history.filter((h) => h.at >= marks.restart);
    expect(
      since.filter((h) => h.snapshot.primaryId !== idOf(newPrimary)).map((h) => h.snapshot.reason),
    ).toEqual([]);
  });

  it('keeps writing to the promoted primary while the stray is up', async () => {
    const later = load.acks.filter((a) => a.startedAt >= marks.strayUp).map((a) => a.id);
    expect(later.length).toBeGreaterThan(0);
    const missing = await cluster.query<{ id: string }>(
      newPrimary,
      `SELECT x::text AS id FROM unnest($1::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE id = x)`,
      [later],
    );
    expect(missing.map((r) => Number(r.id))).toEqual([]);
  });

  it('gives readers no errors', () => {
    expect(load.failuresOf('read')).toEqual([]);
  });
});
