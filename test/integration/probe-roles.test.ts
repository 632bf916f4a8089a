// Integration: Discovery (static source + Prober + Topology) against the shared real PostgreSQL cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Discovery } from '../../discovery/discovery.js';
import { StaticSource } from '../../discovery/static-source.js';
import type { InstanceState, TopologySnapshot } from '../../discovery/topology-view.js';
import { sharedCluster } from '../harness/cluster.js';

const cluster = sharedCluster();
const { instances, superuser } = cluster.descriptor;
const idOf = (name: string) => {
  const instance = cluster.instance(name);
  return `${instance.host}:${instance.port}`;
};

let discovery: Discovery;
let snapshot: TopologySnapshot;

const stateOf = (name: string): InstanceState => {
  const found = snapshot.instances.find((state) => state.id === idOf(name));
  if (found === undefined) throw new Error(`${name} not in topology`);
  return found;
};

beforeAll(async () => {
  discovery = new Discovery({
    sources: [new StaticSource({ hosts: instances.map((instance) => `${instance.host}:${instance.port}`) })],
    probe: { user: superuser, database: 'postgres', intervalMs: 100 },
  });
  await discovery.start();
  snapshot = await discovery.waitFor(
    (next) => next.primaryId !== null && next.instances.every((state) => state.health === 'up'),
    20_000,
  );
});

afterAll(async () => {
  await discovery.stop();
});

describe('probing the shared cluster', () => {
  it('elects pg0 primary', () => {
    expect(snapshot.primaryId).toBe(idOf('pg0'));
  });

  it('sees pg1 and pg2 as standbys', () => {
    expect([stateOf('pg1').role, stateOf('pg2').role]).toEqual(['standby', 'standby']);
  });

  it('makes only pg0 writable', () => {
    expect(snapshot.instances.filter((state) => state.isWritable).map((state) => state.id)).toEqual([
      idOf('pg0'),
    ]);
  });

  it('reads the same system identifier on every instance', async () => {
    const [row] = await cluster.query<{ id: string }>(
      'pg0',
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    expect(snapshot.instances.map((state) => state.systemIdentifier)).toEqual([row?.id, row?.id, row?.id]);
  });

  it("reports the primary's current LSN", () => {
    expect(typeof stateOf('pg0').currentLsn).toBe('bigint');
  });

  it("reports the standbys' replay LSNs", () => {
    expect([typeof stateOf('pg1').replayLsn, typeof stateOf('pg2').replayLsn]).toEqual(['bigint', 'bigint']);
  });

  it('reports the timeline of the primary and the standbys', async () => {
    const [row] = await cluster.query<{ tli: number }>(
      'pg0',
      'SELECT timeline_id AS tli FROM pg_control_checkpoint()',
    );
    expect(snapshot.instances.map((state) => state.timeline)).toEqual([row?.tli, row?.tli, row?.tli]);
  });

  it('computes a byte lag for each standby', () => {
    expect([typeof stateOf('pg1').lagBytes, typeof stateOf('pg2').lagBytes]).toEqual(['number', 'number']);
  });

  it('marks every instance eligible and serving', () => {
    expect(snapshot.instances.every((state) => state.isEligible && state.isServing)).toBe(true);
  });

  it('stamps each instance with its last probe time', () => {
    expect(snapshot.instances.every((state) => typeof state.lastProbeAt === 'number')).toBe(true);
  });
});
