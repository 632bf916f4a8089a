// Unit tests: the pure topology core — election table, fencing, refusal, health and lag.
import { describe, expect, it } from 'vitest';
import { electPrimary } from '../../discovery/elect-primary.js';
import type { SourceEndpoint } from '../../discovery/endpoint-source.js';
import type { ProbeResult } from '../../discovery/probe-query.js';
import { Topology } from '../../discovery/topology.js';
import type { InstanceState } from '../../discovery/topology-view.js';

const SYSTEM_ID = '7301234567890123456';
const A = '10.0.0.1:5432';
const B = '10.0.0.2:5432';
const C = '10.0.0.3:5432';

function endpoint(
  host: string,
  roleHint: SourceEndpoint['roleHint'] = null,
  isServing = true,
): SourceEndpoint {
  return { host, port: 5432, roleHint, isServing };
}

function primary(timeline: number, currentLsn = 0x3000000n, systemIdentifier = SYSTEM_ID): ProbeResult {
  return {
    isInRecovery: false,
    currentLsn,
    receiveLsn: null,
    replayLsn: null,
    timeline,
    systemIdentifier,
    replayDelaySeconds: 0,
  };
}

function standby(replayLsn: bigint, replayDelaySeconds = 0, systemIdentifier = SYSTEM_ID): ProbeResult {
  return {
    isInRecovery: true,
    currentLsn: null,
    receiveLsn: replayLsn,
    replayLsn,
    timeline: 1,
    systemIdentifier,
    replayDelaySeconds,
  };
}

function makeTopology(hints: Array<[string, SourceEndpoint['roleHint']]> = [], failuresBeforeDown = 2) {
  let clock = 1_700_000_000_000;
  const topology = new Topology({ now: () => clock, failuresBeforeDown });
  topology.applySourceUpdate(
    'k8s',
    [
      ['10.0.0.1', null],
      ['10.0.0.2', null],
      ['10.0.0.3', null],
    ].map(([host]) => endpoint(host as string, hints.find(([h]) => h === host)?.[1] ?? null)),
  );
  return { topology, tick: (ms: number) => (clock += ms) };
}

function stateOf(topology: Topology, id: string): InstanceState {
  const found = topology.current().instances.find((state) => state.id === id);
  if (found === undefined) throw new Error(`no ${id}`);
  return found;
}

function writableIds(topology: Topology): string[] {
  return topology
    .current()
    .instances.filter((state) => state.isWritable)
    .map((state) => state.id);
}

describe('Topology election', () => {
  it('elects the single instance that reports not-in-recovery', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, standby(0x3000000n));
    expect(topology.current().primaryId).toBe(A);
  });

  it('makes only the elected primary writable', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, standby(0x3000000n));
    topology.applyProbeResult(C, standby(0x3000000n));
    expect(writableIds(topology)).toEqual([A]);
  });

  it('has no primary while every instance is in recovery', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, standby(1n));
    topology.applyProbeResult(B, standby(1n));
    expect(topology.current().primaryId).toBeNull();
  });

  it('prefers the higher timeline when two instances report not-in-recovery', () => {
    const { topology } = makeTopology([['10.0.0.1', 'primary']]);
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, primary(2));
    expect(topology.current().primaryId).toBe(B);
  });

  it('never makes the lower-timeline primary writable, even when the source still calls it primary', () => {
    const { topology } = makeTopology([['10.0.0.1', 'primary']]);
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, primary(2));
    expect(stateOf(topology, A)).toMatchObject({ role: 'primary', isWritable: false, isEligible: false });
  });

  it('follows the source hint when two primaries share a timeline', () => {
    const { topology } = makeTopology([['10.0.0.2', 'primary']]);
    topology.applyProbeResult(A, primary(3));
    topology.applyProbeResult(B, primary(3));
    expect(topology.current().primaryId).toBe(B);
  });

  it('fences (no writable primary) when two primaries share a timeline and no source singles one out', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(3));
    topology.applyProbeResult(B, primary(3));
    expect(writableIds(topology)).toEqual([]);
  });

  it('fences when the source calls both same-timeline primaries primary', () => {
    const { topology } = makeTopology([
      ['10.0.0.1', 'primary'],
      ['10.0.0.2', 'primary'],
    ]);
    topology.applyProbeResult(A, primary(3));
    topology.applyProbeResult(B, primary(3));
    expect(topology.current().primaryId).toBeNull();
  });

  it('says why it fenced', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(3));
    topology.applyProbeResult(B, primary(3));
    expect(topology.current().reason).toMatch(/fenced, ambiguous/);
  });

  it('ends the fence once one of the two primaries is demoted', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(3));
    topology.applyProbeResult(B, primary(3));
    topology.applyProbeResult(A, standby(0x3000000n));
    expect(topology.current().primaryId).toBe(B);
  });

  it('refuses an instance whose system identifier differs from the first confirmed primary', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(C, primary(9, 0x9000000n, '999'));
    expect(stateOf(topology, C)).toMatchObject({ isRefused: true, isWritable: false, isEligible: false });
  });

  it('keeps the foreign primary out of the election even with a higher timeline', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(C, primary(9, 0x9000000n, '999'));
    expect(topology.current().primaryId).toBe(A);
  });

  it('refuses a foreign standby', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, standby(1n, 0, '999'));
    expect(stateOf(topology, B).isEligible).toBe(false);
  });

  it('learns the system identifier from the majority before any primary is confirmed', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(B, standby(1n));
    topology.applyProbeResult(C, standby(1n));
    topology.applyProbeResult(A, primary(5, 1n, '999'));
    expect(topology.current().primaryId).toBeNull();
  });

  it('fences two primaries with different system identifiers when the cluster identifier is not known', () => {
    const inputs = [A, B].map((id, i) => ({
      id,
      isUp: true,
      isInRecovery: false,
      timeline: i + 1,
      systemIdentifier: String(i),
      sourceRole: null,
    }));
    expect(electPrimary(inputs, null).kind).toBe('fenced');
  });

  it('honours a configured system identifier over what the instances say', () => {
    const topology = new Topology({ now: () => 0, expectedSystemIdentifier: '222' });
    topology.applySourceUpdate('static', [endpoint('10.0.0.1'), endpoint('10.0.0.2')]);
    topology.applyProbeResult(A, primary(1, 1n, '111'));
    topology.applyProbeResult(B, primary(1, 1n, '222'));
    expect(topology.current().primaryId).toBe(B);
  });
});

describe('Topology health', () => {
  it('starts an instance suspect until its first probe', () => {
    const { topology } = makeTopology();
    expect(stateOf(topology, A).health).toBe('suspect');
  });

  it('marks an instance up after a successful probe', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    expect(stateOf(topology, A).health).toBe('up');
  });

  it('marks an instance suspect at once when a failure is reported', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.markSuspect(A, 'ECONNRESET on data connection');
    expect(stateOf(topology, A)).toMatchObject({
      health: 'suspect',
      lastError: 'ECONNRESET on data connection',
    });
  });

  it('withdraws writability from a suspect primary', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.markSuspect(A, 'reset');
    expect(topology.current().primaryId).toBeNull();
  });

  it('restores the primary when the immediate probe after a reported failure succeeds', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.markSuspect(A, 'reset');
    topology.applyProbeResult(A, primary(1));
    expect(topology.current().primaryId).toBe(A);
  });

  it('keeps a reported primary suspect when the probe answering next had started before the report', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.markSuspect(A, 'connection lost');
    // The primary answered this probe just before it failed: no writes go back to it on its word.
    topology.applyProbeResult(A, primary(1), false);
    expect([stateOf(topology, A).health, topology.current().primaryId]).toEqual(['suspect', null]);
    topology.applyProbeResult(A, primary(1), true);
    expect([stateOf(topology, A).health, topology.current().primaryId]).toEqual(['up', A]);
  });

  it('marks an instance suspect after one probe failure', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeFailure(A, new Error('connect ECONNREFUSED'));
    expect(stateOf(topology, A).health).toBe('suspect');
  });

  it('marks an instance down after the configured number of consecutive probe failures', () => {
    const { topology } = makeTopology([], 3);
    topology.applyProbeResult(A, primary(1));
    for (let i = 0; i < 3; i += 1) topology.applyProbeFailure(A, new Error('connect ECONNREFUSED'));
    expect(stateOf(topology, A).health).toBe('down');
  });

  it('counts a reported failure followed by a failed probe as enough to go down', () => {
    const { topology } = makeTopology([], 2);
    topology.applyProbeResult(A, primary(1));
    topology.markSuspect(A, 'reset');
    topology.applyProbeFailure(A, new Error('connect ECONNREFUSED'));
    expect(stateOf(topology, A).health).toBe('down');
  });

  it('elects the promoted standby once the old primary is down', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, standby(1n));
    topology.applyProbeFailure(A, new Error('gone'));
    topology.applyProbeFailure(A, new Error('gone'));
    topology.applyProbeResult(B, primary(2));
    expect(topology.current().primaryId).toBe(B);
  });
});

describe('Topology lag', () => {
  it("computes a standby's lag in bytes from the primary's current LSN", () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1, 0x3000400n));
    topology.applyProbeResult(B, standby(0x3000000n));
    expect(stateOf(topology, B).lagBytes).toBe(0x400);
  });

  it('reports the replay delay in seconds from the probe', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applyProbeResult(B, standby(0x3000000n, 4.5));
    expect(stateOf(topology, B).lagSeconds).toBe(4.5);
  });

  it('has unknown lag in bytes while there is no primary', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(B, standby(0x3000000n));
    expect(stateOf(topology, B).lagBytes).toBeNull();
  });

  it('recomputes lag when the primary moves on', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1, 0x3000000n));
    topology.applyProbeResult(B, standby(0x3000000n));
    topology.applyProbeResult(A, primary(1, 0x3001000n));
    expect(stateOf(topology, B).lagBytes).toBe(0x1000);
  });

  it('stamps the probe time from the injected clock', () => {
    const { topology, tick } = makeTopology();
    const at = tick(250);
    topology.applyProbeResult(A, primary(1));
    expect(stateOf(topology, A).lastProbeAt).toBe(at);
  });
});

describe('Topology snapshots', () => {
  it('emits no new snapshot when a probe changes nothing observable', () => {
    const { topology, tick } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    tick(250);
    expect(topology.applyProbeResult(A, primary(1))).toBeNull();
  });

  it('bumps the version on every observable change', () => {
    const { topology } = makeTopology();
    const before = topology.current().version;
    topology.applyProbeResult(A, primary(1));
    expect(topology.current().version).toBe(before + 1);
  });

  it('flags a snapshot in which only lag moved', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1, 0x3000000n));
    topology.applyProbeResult(B, standby(0x3000000n));
    expect(topology.applyProbeResult(A, primary(1, 0x3000800n))?.isLagOnly).toBe(true);
  });

  it('does not flag a role change as lag only', () => {
    const { topology } = makeTopology();
    expect(topology.applyProbeResult(A, primary(1))?.isLagOnly).toBe(false);
  });

  it('names the new primary in the reason', () => {
    const { topology } = makeTopology();
    const snapshot = topology.applyProbeResult(A, primary(1));
    expect(snapshot?.reason).toContain(`primary none -> ${A}`);
  });

  it('adds the instances a source lists', () => {
    const topology = new Topology({ now: () => 0 });
    topology.applySourceUpdate('static', [endpoint('10.0.0.1'), endpoint('10.0.0.2')]);
    expect(topology.current().instances.map((state) => state.id)).toEqual([A, B]);
  });

  it('removes an instance no source lists any more', () => {
    const { topology } = makeTopology();
    topology.applySourceUpdate('k8s', [endpoint('10.0.0.1'), endpoint('10.0.0.2')]);
    expect(topology.current().instances.map((state) => state.id)).toEqual([A, B]);
  });

  it('drops the primary when its instance leaves the sources', () => {
    const { topology } = makeTopology();
    topology.applyProbeResult(A, primary(1));
    topology.applySourceUpdate('k8s', [endpoint('10.0.0.2'), endpoint('10.0.0.3')]);
    expect(topology.current().primaryId).toBeNull();
  });

  it('marks an instance not serving when its endpoint is terminating', () => {
    const { topology } = makeTopology();
    topology.applySourceUpdate('k8s', [endpoint('10.0.0.1', 'primary', false), endpoint('10.0.0.2')]);
    expect(stateOf(topology, A).isServing).toBe(false);
  });

  it('keeps the source role hint on the instance', () => {
    const { topology } = makeTopology([['10.0.0.3', 'standby']]);
    expect(stateOf(topology, C).sourceRole).toBe('standby');
  });

  it('ignores probe results for instances no source lists', () => {
    const { topology } = makeTopology();
    expect(topology.applyProbeResult('10.9.9.9:5432', primary(1))).toBeNull();
  });

  it('freezes snapshots so consumers cannot edit shared state', () => {
    const { topology } = makeTopology();
    expect(Object.isFrozen(topology.current().instances[0])).toBe(true);
  });
});

describe('fencing a stale primary across probe gaps', () => {
  it('never elects a primary on an older timeline, even while the newer primary is unreachable', async () => {
    const { electPrimary } = await import('../../discovery/elect-primary.js');
    const stale = {
      id: 'old:1',
      isUp: true,
      isInRecovery: false,
      timeline: 1,
      systemIdentifier: 's',
      sourceRole: null,
    };
    const newer = {
      id: 'new:1',
      isUp: false,
      isInRecovery: false,
      timeline: 2,
      systemIdentifier: 's',
      sourceRole: null,
    };
    expect(electPrimary([stale, newer], 's', 2).kind).toBe('none');
    expect(electPrimary([stale, { ...newer, isUp: true }], 's', 2)).toMatchObject({
      kind: 'elected',
      primaryId: 'new:1',
    });
    // Without the memory of timeline 2, the stale one would have been the sole candidate.
    expect(electPrimary([stale, newer], 's', null)).toMatchObject({ kind: 'elected', primaryId: 'old:1' });
  });
});

describe('lag against the primary position of the same moment', () => {
  it('does not count WAL the primary wrote after the standby was probed', () => {
    const { topology, tick } = makeTopology();
    topology.applyProbeResult(A, primary(1, 0x3000000n));
    tick(100);
    topology.applyProbeResult(B, standby(0x3000000n));
    tick(100);
    // The primary has written 16 MB since B's probe; B is not behind by that until its next probe says so.
    topology.applyProbeResult(A, primary(1, 0x4000000n));
    expect(stateOf(topology, B).lagBytes).toBe(0);
    tick(100);
    topology.applyProbeResult(B, standby(0x3800000n));
    expect(stateOf(topology, B).lagBytes).toBe(0x800000);
  });
});
