// Unplanned failover under load through pgroute: primary killed, standby promoted; readers unharmed, writers pause then resume.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import type { TopologySnapshot } from '../../discovery/topology-view.js';
import { Load } from '../harness/load.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const table = 'failover_unplanned';
/** The product requirement: writes resume within 1 s of the promotion being visible to a probe. */
const RESUME_REQUIREMENT_MS = 1_000;
/**
 * Asserted bound, generous for a loaded 2-core machine (measured 80-220 ms); the timeline printed
 * above the results shows the real delay against the 1 s requirement.
 */
const RESUME_BOUND_MS = 3 * RESUME_REQUIREMENT_MS;

let cluster: LocalCluster;
let tp: TestProxy;
let load: Load;
const history: { at: number; snapshot: TopologySnapshot }[] = [];
const marks = {
  loadStarted: 0,
  kill: 0,
  killed: 0,
  detected: 0,
  down: 0,
  promoted: 0,
  promotionSeen: 0,
  repointed: 0,
  firstWriteOk: 0,
};
let newPrimary = 'pg1';

const idOf = (name: string) => `${cluster.instance(name).host}:${cluster.instance(name).port}`;

function firstAt(predicate: (s: TopologySnapshot) => boolean, since: number): number {
  return history.find((h) => h.at >= since && predicate(h.snapshot))?.at ?? 0;
}

/**
 * Promote the standby that received the most WAL, as a failover manager would: the other one can then
 * follow it, and with synchronous replication (ANY 1) it holds every acknowledged commit.
 */
async function pickMostAdvanced(names: string[]): Promise<string> {
  const lsns = await Promise.all(
    names.map(async (n) => {
      const rows = await cluster.query<{ lsn: string }>(n, 'SELECT pg_last_wal_receive_lsn()::text AS lsn');
      return { n, lsn: rows[0]?.lsn ?? '0/0' };
    }),
  );
  const [a, b] = lsns;
  const behind = await cluster.query<{ ahead: boolean }>(a!.n, 'SELECT $1::pg_lsn > $2::pg_lsn AS ahead', [
    b!.lsn,
    a!.lsn,
  ]);
  return behind[0]?.ahead ? b!.n : a!.n;
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 110, synchronous: true });
  tp = await startTestProxy(cluster);
  tp.proxy.discovery.onChange((snapshot) => history.push({ at: Date.now(), snapshot }));
  const admin = new pg.Client(tp.params({ mode: 'rw' }));
  await admin.connect();
  await admin.query(Load.createTableSql(table));
  await admin.end();
  await cluster.waitForReplay();

  load = await Load.start({ connection: tp.params({ mode: 'auto' }), table, writers: 8, readers: 8 });
  marks.loadStarted = Date.now();
  await sleep(1_000);

  const pg0 = idOf('pg0');
  marks.kill = Date.now();
  await cluster.stop('pg0', 'immediate');
  marks.killed = Date.now();
  newPrimary = await pickMostAdvanced(['pg1', 'pg2']);
  const other = newPrimary === 'pg1' ? 'pg2' : 'pg1';
  await cluster.promote(newPrimary);
  marks.promoted = Date.now();
  await tp.proxy.discovery.waitFor((s) => s.primaryId === idOf(newPrimary), 15_000);
  await cluster.repoint(other, newPrimary);
  marks.repointed = Date.now();
  // Let the load run on the new primary for a while before judging it.
  await sleep(1_000);
  await load.stop();

  const pg0State = (s: TopologySnapshot) => s.instances.find((i) => i.id === pg0);
  marks.detected = firstAt((s) => pg0State(s)?.health !== 'up', marks.kill);
  marks.down = firstAt((s) => pg0State(s)?.health === 'down', marks.kill);
  marks.promotionSeen = firstAt((s) => s.primaryId === idOf(newPrimary), marks.kill);
  marks.firstWriteOk = load.firstAckAfter(marks.promotionSeen)?.at ?? 0;
  const rel = (t: number) => (t === 0 ? 'never' : `+${t - marks.kill} ms`);
  console.log(
    [
      `[failover-unplanned] timeline (relative to the kill of pg0; new primary ${newPrimary}):`,
      `  kill pg0 (immediate)      ${rel(marks.kill)}  (pg_ctl returned ${rel(marks.killed)})`,
      `  pg0 suspect (detection)   ${rel(marks.detected)}`,
      `  pg0 down                  ${rel(marks.down)}`,
      `  pg_ctl promote ${newPrimary} returned ${rel(marks.promoted)}`,
      `  promotion seen by probe   ${rel(marks.promotionSeen)}`,
      `  first write OK after it   ${rel(marks.firstWriteOk)}  (resume delay ${marks.firstWriteOk - marks.promotionSeen} ms, requirement ${RESUME_REQUIREMENT_MS} ms)`,
      `  ${other} repointed              ${rel(marks.repointed)}`,
      `  load: ${load.acks.length} writes acknowledged, ${load.readCount} reads, failures ${JSON.stringify(load.failures.map((f) => ({ c: f.client, code: f.code, started: rel(f.startedAt), at: rel(f.at) })))}`,
    ].join('\n'),
  );
});

afterAll(async () => {
  await load?.stop();
  await tp?.stop();
  await cluster?.destroy();
});

describe('unplanned failover under load (pg0 killed, standby promoted)', () => {
  it('gives readers no errors', () => {
    expect(load.failuresOf('read')).toEqual([]);
  });

  it('has every client working again after the failover', () => {
    expect(load.clientsIdleSince(marks.repointed)).toEqual([]);
  });

  it('gives each writer at most one error', () => {
    const over = [...load.failuresPerClient('write')].filter(([, n]) => n > 1);
    expect(over).toEqual([]);
  });

  it('fails only writes sent before the proxy saw pg0 fail', () => {
    expect(marks.detected).toBeGreaterThan(0);
    const late = load.failuresOf('write').filter((f) => f.startedAt > marks.detected);
    expect(late).toEqual([]);
  });

  it('closes no client connection', () => {
    expect(load.closes).toEqual([]);
  });

  it('answers every statement (no client left waiting)', () => {
    expect(load.stuck).toEqual([]);
  });

  it('resumes writes on the new primary soon after the promotion is visible', () => {
    expect(marks.promotionSeen).toBeGreaterThan(0);
    expect(marks.firstWriteOk).toBeGreaterThanOrEqual(marks.promotionSeen);
    expect(marks.firstWriteOk - marks.promotionSeen).toBeLessThan(RESUME_BOUND_MS);
  });

  it('keeps every acknowledged insert on the new primary (synchronous replication)', async () => {
    const ids = load.acknowledgedIds;
    expect(ids.length).toBeGreaterThan(0);
    const missing = await cluster.query<{ id: string }>(
      newPrimary,
      `SELECT x::text AS id FROM unnest($1::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE id = x)`,
      [ids],
    );
    expect(missing.map((r) => Number(r.id))).toEqual([]);
  });
});
