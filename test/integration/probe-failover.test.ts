// Integration: lag, failover and an old primary restarted un-demoted, probed on a private real PostgreSQL cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { Discovery } from '../../discovery/discovery.js';
import { StaticSource } from '../../discovery/static-source.js';
import type { InstanceState, TopologySnapshot } from '../../discovery/topology-view.js';

const WAIT_MS = 30_000;

let cluster: LocalCluster;
let discovery: Discovery;
const history: TopologySnapshot[] = [];

const idOf = (name: string) => {
  const instance = cluster.instance(name);
  return `${instance.host}:${instance.port}`;
};
const stateIn = (snapshot: TopologySnapshot, name: string): InstanceState | undefined =>
  snapshot.instances.find((state) => state.id === idOf(name));
const stateOf = (name: string): InstanceState => {
  const found = stateIn(discovery.current(), name);
  if (found === undefined) throw new Error(`${name} not in topology`);
  return found;
};
const waitForState = (name: string, predicate: (state: InstanceState) => boolean) =>
  discovery.waitFor((snapshot) => {
    const state = stateIn(snapshot, name);
    return state !== undefined && predicate(state);
  }, WAIT_MS);

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 30 });
  discovery = new Discovery({
    sources: [
      new StaticSource({
        hosts: cluster.descriptor.instances.map((instance) => `${instance.host}:${instance.port}`),
      }),
    ],
    probe: {
      user: cluster.descriptor.superuser,
      database: 'postgres',
      intervalMs: 100,
      connectTimeoutMs: 500,
    },
    failuresBeforeDown: 2,
  });
  discovery.onChange((next) => history.push(next));
  await discovery.start();
  await discovery.waitFor(
    (snapshot) => snapshot.primaryId !== null && snapshot.instances.every((state) => state.health === 'up'),
    WAIT_MS,
  );
});

afterAll(async () => {
  await discovery?.stop();
  await cluster?.destroy();
});

describe('a standby with a replay delay', () => {
  beforeAll(async () => {
    // A replayed commit first, so that pg_last_xact_replay_timestamp() is not null on the standbys.
    await cluster.query('pg0', 'CREATE TABLE probe_lag (n int)');
    await cluster.waitForReplay();
    await cluster.setApplyDelay('pg2', 5_000);
    await cluster.query('pg0', 'INSERT INTO probe_lag SELECT generate_series(1, 1000)');
    await waitForState('pg2', (state) => (state.lagBytes ?? 0) > 0 && (state.lagSeconds ?? 0) > 0);
  });

  afterAll(async () => {
    await cluster.setApplyDelay('pg2', 0);
    await cluster.waitForReplay();
  });

  it('lags behind the primary in bytes', () => {
    expect(stateOf('pg2').lagBytes).toBeGreaterThan(0);
  });

  it('lags behind in seconds since its last replayed commit', () => {
    expect(stateOf('pg2').lagSeconds).toBeGreaterThan(0);
  });

  it('leaves the undelayed standby caught up, in bytes and in seconds', async () => {
    // Both are measured by one probe, but lagBytes compares its replay position with the primary's
    // last sample while lagSeconds looks at WAL received since: a probe that lands while the standby
    // replays a commit the primary sample predates sees 0 bytes and a fraction of a second. Caught
    // up means both at once; waitForState fails the test if no snapshot ever shows it.
    const snapshot = await waitForState('pg1', (state) => state.lagBytes === 0 && state.lagSeconds === 0);
    expect(stateIn(snapshot, 'pg1')).toMatchObject({ role: 'standby', health: 'up', isEligible: true });
  });
});

describe('failover: primary stopped, standby promoted', () => {
  let failoverVersion = 0;

  beforeAll(async () => {
    await cluster.stop('pg0', 'immediate');
    failoverVersion = discovery.current().version;
    await cluster.promote('pg1');
    await discovery.waitFor((snapshot) => snapshot.primaryId === idOf('pg1'), WAIT_MS);
  });

  it('elects the promoted standby', () => {
    expect(discovery.current().primaryId).toBe(idOf('pg1'));
  });

  it('sees the promoted standby on a new timeline', () => {
    expect(stateOf('pg1').timeline).toBe(2);
  });

  it('marks the stopped primary down', async () => {
    const snapshot = await waitForState('pg0', (state) => state.health === 'down');
    expect(stateIn(snapshot, 'pg0')?.isWritable).toBe(false);
  });

  it('never had two writable instances in any snapshot', () => {
    const doubles = history.filter(
      (snapshot) => snapshot.instances.filter((state) => state.isWritable).length > 1,
    );
    expect(doubles.map((snapshot) => snapshot.version)).toEqual([]);
  });

  it('never showed pg0 writable again once pg1 was elected', () => {
    const afterStop = history.filter((snapshot) => snapshot.version > failoverVersion);
    const firstPg1 = afterStop.findIndex((snapshot) => snapshot.primaryId === idOf('pg1'));
    expect(afterStop.slice(firstPg1).some((snapshot) => stateIn(snapshot, 'pg0')?.isWritable)).toBe(false);
  });
});

describe('old primary restarted without being demoted', () => {
  let restartVersion = 0;

  beforeAll(async () => {
    restartVersion = discovery.current().version;
    await cluster.startInstance('pg0');
    await waitForState('pg0', (state) => state.health === 'up' && state.role === 'primary');
  });

  it('reports both as not in recovery', () => {
    expect([stateOf('pg0').role, stateOf('pg1').role]).toEqual(['primary', 'primary']);
  });

  it('keeps the higher-timeline pg1 writable', () => {
    expect(discovery.current().primaryId).toBe(idOf('pg1'));
  });

  it('never makes the old primary writable', () => {
    const since = history.filter((snapshot) => snapshot.version > restartVersion);
    expect(since.some((snapshot) => stateIn(snapshot, 'pg0')?.isWritable)).toBe(false);
  });

  it('keeps the stray old primary out of service', () => {
    expect(stateOf('pg0').isEligible).toBe(false);
  });

  it('still sees the old primary on its old timeline', () => {
    expect(stateOf('pg0').timeline).toBe(1);
  });
});
