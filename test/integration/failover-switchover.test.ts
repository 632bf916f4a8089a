// Planned switchover under load through pgroute: PAUSE, drain pg0, stop it, promote pg1, RESUME; clients see nothing.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { Load } from '../harness/load.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const table = 'failover_switchover';
const WAIT_MS = 15_000;

let cluster: LocalCluster;
let tp: TestProxy;
let load: Load;
const marks = {
  pause: 0,
  drained: 0,
  stopped: 0,
  promoted: 0,
  promotionSeen: 0,
  repointed: 0,
  resume: 0,
  firstWriteOk: 0,
};
let maxHeld = 0;

const idOf = (name: string) => `${cluster.instance(name).host}:${cluster.instance(name).port}`;

/** Polls `check` every few ms; returns when it holds, throws after `timeoutMs`. */
async function waitUntil(what: string, check: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    maxHeld = Math.max(maxHeld, tp.proxy.router.heldCount);
    await sleep(5);
  }
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 120 });
  tp = await startTestProxy(cluster);
  const admin = new pg.Client(tp.params({ mode: 'rw' }));
  await admin.connect();
  await admin.query(Load.createTableSql(table));
  await admin.end();
  await cluster.waitForReplay();

  load = await Load.start({ connection: tp.params({ mode: 'auto' }), table, writers: 8, readers: 8 });
  await sleep(1_000);

  const pg0 = idOf('pg0');
  marks.pause = Date.now();
  tp.proxy.router.pause();
  // Running transactions finish; no session may still hold a server connection to pg0.
  await waitUntil('sessions to leave pg0', () =>
    [...tp.proxy.sessions].every((s) => s.server?.instanceId !== pg0),
  );
  marks.drained = Date.now();
  await cluster.stop('pg0', 'fast');
  marks.stopped = Date.now();
  await cluster.promote('pg1');
  marks.promoted = Date.now();
  await cluster.repoint('pg2', 'pg1');
  marks.repointed = Date.now();
  await tp.proxy.discovery.waitFor((s) => {
    const p = s.instances.find((i) => i.id === s.primaryId);
    return s.primaryId === idOf('pg1') && p?.health === 'up' && p.isWritable;
  }, WAIT_MS);
  marks.promotionSeen = Date.now();
  maxHeld = Math.max(maxHeld, tp.proxy.router.heldCount);
  marks.resume = Date.now();
  tp.proxy.router.resume();
  await sleep(1_000);
  await load.stop();

  marks.firstWriteOk = load.firstAckAfter(marks.resume)?.at ?? 0;
  const rel = (t: number) => (t === 0 ? 'never' : `+${t - marks.pause} ms`);
  console.log(
    [
      '[failover-switchover] timeline (relative to PAUSE):',
      `  PAUSE                         ${rel(marks.pause)}`,
      `  no session on pg0             ${rel(marks.drained)}`,
      `  pg0 stopped (fast)            ${rel(marks.stopped)}`,
      `  pg1 promoted                  ${rel(marks.promoted)}`,
      `  pg2 repointed                 ${rel(marks.repointed)}`,
      `  topology shows pg1 writable   ${rel(marks.promotionSeen)}`,
      `  RESUME                        ${rel(marks.resume)}  (requests held at most: ${maxHeld})`,
      `  first write OK after RESUME   ${rel(marks.firstWriteOk)}`,
      `  load: ${load.acks.length} writes acknowledged, ${load.readCount} reads, ${load.failures.length} failures ${JSON.stringify(load.failures.slice(0, 5))}`,
    ].join('\n'),
  );
});

afterAll(async () => {
  tp?.proxy.router.resume();
  await load?.stop();
  await tp?.stop();
  await cluster?.destroy();
});

describe('planned switchover under load (PAUSE, pg0 stopped, pg1 promoted, RESUME)', () => {
  it('gives readers no errors', () => {
    expect(load.failuresOf('read')).toEqual([]);
  });

  it('gives writers no errors', () => {
    expect(load.failuresOf('write')).toEqual([]);
  });

  it('closes no client connection', () => {
    expect(load.closes).toEqual([]);
  });

  it('answers every statement (no client left waiting)', () => {
    expect(load.stuck).toEqual([]);
  });

  it('held requests while paused', () => {
    expect(maxHeld).toBeGreaterThan(0);
  });

  it('has every client working again after RESUME', () => {
    expect(load.clientsIdleSince(marks.resume)).toEqual([]);
  });

  it('keeps every acknowledged insert on the new primary', async () => {
    const ids = load.acknowledgedIds;
    expect(ids.length).toBeGreaterThan(0);
    const missing = await cluster.query<{ id: string }>(
      'pg1',
      `SELECT x::text AS id FROM unnest($1::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE id = x)`,
      [ids],
    );
    expect(missing.map((r) => Number(r.id))).toEqual([]);
  });
});
