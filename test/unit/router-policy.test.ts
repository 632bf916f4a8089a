import { describe, expect, it } from 'vitest';
import type { InstanceState, TopologySnapshot } from '../../discovery/topology-view.js';
import { Balancer } from '../../router/balancer.js';
import {
  decideRoute,
  type PolicyOptions,
  type RoutableStatement,
  type RouteInput,
} from '../../router/policy.js';
import { instanceState } from '../harness/instance-state.js';

function inst(id: string, role: 'primary' | 'standby', extra: Partial<InstanceState> = {}): InstanceState {
  return instanceState(id, role, extra);
}
const P = 'p:1';
const S1 = 's1:1';
const S2 = 's2:1';
function snap(instances: InstanceState[]): TopologySnapshot {
  return {
    version: 1,
    instances,
    primaryId: instances.find((i) => i.isWritable)?.id ?? null,
    reason: '',
    isLagOnly: false,
  };
}
const read: RoutableStatement = { target: 'any', reason: 'read', hint: null, txEffects: [null] };
const write: RoutableStatement = { target: 'primary', reason: 'write-dml', hint: null, txEffects: [null] };
const begin = (readOnly: boolean | null): RoutableStatement => ({
  target: 'any',
  reason: 'transaction-control',
  hint: null,
  txEffects: [{ kind: 'begin', readOnly }],
});
const opts: PolicyOptions = { fallbackToPrimary: true, maxLagBytes: 1000, maxLagSeconds: null, weights: {} };
const healthy = snap([inst(P, 'primary'), inst(S1, 'standby'), inst(S2, 'standby')]);
function input(statements: RoutableStatement[], extra: Partial<RouteInput> = {}): RouteInput {
  return {
    mode: 'auto',
    purpose: 'batch',
    statements,
    session: { target: null, isReadOnlyByDefault: false, minLsn: null, isLsnUnknown: false },
    snapshot: healthy,
    ...extra,
  };
}

describe('decideRoute', () => {
  it('sends reads round robin over the standbys', () => {
    const b = new Balancer();
    const ids = Array.from({ length: 6 }, () => {
      const d = decideRoute(input([read]), opts, b);
      return d.kind === 'route' ? d.instanceId : d.kind;
    });
    expect(ids.filter((i) => i === S1).length).toBe(3);
    expect(ids.filter((i) => i === S2).length).toBe(3);
  });

  it('sends writes and read-write transactions to the primary', () => {
    expect(decideRoute(input([write]), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'write',
    });
    expect(decideRoute(input([begin(null)]), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'transaction',
    });
  });

  it('sends a read-only transaction to a standby, and a plain BEGIN too when read-only is the session default', () => {
    expect(decideRoute(input([begin(true)]), opts, new Balancer())).toMatchObject({
      role: 'standby',
      reason: 'read-only-transaction',
    });
    const ro = input([begin(null)], {
      session: { target: null, isReadOnlyByDefault: true, minLsn: null, isLsnUnknown: false },
    });
    expect(decideRoute(ro, opts, new Balancer())).toMatchObject({ role: 'standby' });
  });

  it('sends a batch with one write among reads to the primary', () => {
    expect(decideRoute(input([read, write, read]), opts, new Balancer())).toMatchObject({ instanceId: P });
  });

  it('keeps a lagging standby out of the rotation', () => {
    const lagging = snap([inst(P, 'primary'), inst(S1, 'standby', { lagBytes: 5000 }), inst(S2, 'standby')]);
    const b = new Balancer();
    for (let i = 0; i < 4; i++)
      expect(decideRoute(input([read], { snapshot: lagging }), opts, b)).toMatchObject({ instanceId: S2 });
  });

  it('reads after a write only from standbys that replayed it, else from the primary', () => {
    const s = snap([
      inst(P, 'primary'),
      inst(S1, 'standby', { replayLsn: 900n }),
      inst(S2, 'standby', { replayLsn: 2000n }),
    ]);
    const withLsn = (minLsn: bigint) =>
      input([read], {
        snapshot: s,
        session: { target: null, isReadOnlyByDefault: false, minLsn, isLsnUnknown: false },
      });
    expect(decideRoute(withLsn(1500n), opts, new Balancer())).toMatchObject({ instanceId: S2 });
    expect(decideRoute(withLsn(5000n), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'read-your-writes',
    });
  });

  it('keeps the reads of a session whose last write has no known LSN on the primary', () => {
    const s = snap([inst(P, 'primary'), inst(S1, 'standby', { replayLsn: 1n << 40n })]);
    const session = { target: null, isReadOnlyByDefault: false, minLsn: null, isLsnUnknown: true };
    expect(decideRoute(input([read], { snapshot: s, session }), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'read-your-writes',
    });
    // A later write taught it an LSN the standby has replayed: standbys serve it again.
    const learned = { ...session, minLsn: 1000n, isLsnUnknown: false };
    expect(decideRoute(input([read], { snapshot: s, session: learned }), opts, new Balancer())).toMatchObject(
      {
        instanceId: S1,
      },
    );
  });

  it('holds writes while no primary is writable', () => {
    const none = snap([inst(P, 'primary', { isWritable: false, health: 'down' }), inst(S1, 'standby')]);
    expect(decideRoute(input([write], { snapshot: none }), opts, new Balancer()).kind).toBe('wait-primary');
    expect(decideRoute(input([read], { snapshot: none }), opts, new Balancer())).toMatchObject({
      instanceId: S1,
    });
  });

  it('stops giving new transactions to a primary whose endpoint is terminating', () => {
    const terminating = snap([inst(P, 'primary', { isServing: false }), inst(S1, 'standby')]);
    expect(decideRoute(input([write], { snapshot: terminating }), opts, new Balancer()).kind).toBe(
      'wait-primary',
    );
  });

  it('falls back to the primary for reads when no standby is eligible, or fails when fallback is off', () => {
    const alone = snap([inst(P, 'primary')]);
    expect(decideRoute(input([read], { snapshot: alone }), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'no-eligible-standby',
    });
    expect(
      decideRoute(
        input([read], { snapshot: alone, mode: 'ro' }),
        { ...opts, fallbackToPrimary: false },
        new Balancer(),
      ).kind,
    ).toBe('unavailable');
  });

  it('honours listener modes rw, ro and r', () => {
    expect(decideRoute(input([read], { mode: 'rw' }), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'mode-rw',
    });
    expect(decideRoute(input([write], { mode: 'ro' }), opts, new Balancer())).toMatchObject({
      role: 'standby',
      reason: 'mode-ro',
    });
    const b = new Balancer();
    const seen = new Set(
      Array.from(
        { length: 3 },
        () => (decideRoute(input([read], { mode: 'r' }), opts, b) as { instanceId: string }).instanceId,
      ),
    );
    expect(seen).toEqual(new Set([P, S1, S2]));
  });

  it('follows hints and the session target', () => {
    const hinted: RoutableStatement = { ...read, hint: 'primary' };
    expect(decideRoute(input([hinted]), opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'hint-primary',
    });
    const pinned = input([read], {
      session: { target: 'primary', isReadOnlyByDefault: false, minLsn: null, isLsnUnknown: false },
    });
    expect(decideRoute(pinned, opts, new Balancer())).toMatchObject({
      instanceId: P,
      reason: 'session-target',
    });
  });

  it('weights standbys', () => {
    const b = new Balancer();
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const d = decideRoute(input([read]), { ...opts, weights: { [S1]: 2 } }, b) as { instanceId: string };
      counts.set(d.instanceId, (counts.get(d.instanceId) ?? 0) + 1);
    }
    expect(counts.get(S1)).toBe(20);
    expect(counts.get(S2)).toBe(10);
  });
});
