// Pure routing policy: (statements, session, topology, listener mode) -> which instance, and why.

import type { InstanceState, TopologySnapshot } from '../discovery/topology-view.js';
import type { Balancer } from './balancer.js';

export type ListenerMode = 'auto' | 'rw' | 'ro' | 'r';

/** The part of a statement's classification routing looks at. */
export interface RoutableStatement {
  target: 'primary' | 'any';
  reason: string;
  hint: 'primary' | 'standby' | 'any' | null;
  /** Pins the session to its server connection (LISTEN, temp table, SET ROLE, ...). */
  pin?: string | null;
  settings?: readonly { name: string; value: string | null; isLocal: boolean }[];
  txEffects: readonly ({ kind: string; readOnly?: boolean | null } | null)[];
}

export interface RoutingSession {
  /** SET pgroute.target: null = automatic. */
  target: 'primary' | 'standby' | 'any' | null;
  /** default_transaction_read_only = on: a plain BEGIN opens a read-only transaction. */
  isReadOnlyByDefault: boolean;
  /** Read-your-writes: only standbys that replayed this LSN may serve reads. */
  minLsn: bigint | null;
}

export interface PolicyOptions {
  fallbackToPrimary: boolean;
  maxLagBytes: number | null;
  maxLagSeconds: number | null;
  weights: Readonly<Record<string, number>>;
}

export type RouteReason =
  | 'write'
  | 'transaction'
  | 'read'
  | 'read-only-transaction'
  | 'hint-primary'
  | 'hint-standby'
  | 'session-target'
  | 'mode-rw'
  | 'mode-ro'
  | 'mode-r'
  | 'login'
  | 'pin'
  | 'read-your-writes'
  | 'no-eligible-standby';

export type RouteDecision =
  | { kind: 'route'; instanceId: string; role: 'primary' | 'standby'; reason: RouteReason; detail: string }
  | { kind: 'wait-primary'; reason: RouteReason; detail: string }
  | { kind: 'unavailable'; reason: RouteReason; detail: string };

export interface RouteInput {
  mode: ListenerMode;
  purpose: 'login' | 'batch';
  statements: readonly RoutableStatement[];
  session: RoutingSession;
  snapshot: TopologySnapshot;
}

/** The writable primary, if it may take new transactions now (not terminating, not suspect). */
export function writablePrimary(s: TopologySnapshot): InstanceState | null {
  const p = s.instances.find((i) => i.isWritable);
  return p?.isServing && p.health === 'up' ? p : null;
}

function isFresh(i: InstanceState, o: PolicyOptions): boolean {
  if (o.maxLagBytes !== null && i.lagBytes !== null && i.lagBytes > o.maxLagBytes) return false;
  if (o.maxLagSeconds !== null && i.lagSeconds !== null && i.lagSeconds > o.maxLagSeconds) return false;
  return true;
}

/** Standbys that may serve a read now: up, serving, not lagging, and past the session's LSN. */
export function eligibleStandbys(
  s: TopologySnapshot,
  o: PolicyOptions,
  minLsn: bigint | null,
): InstanceState[] {
  return s.instances.filter(
    (i) =>
      i.role === 'standby' &&
      i.isEligible &&
      i.isServing &&
      i.health === 'up' &&
      isFresh(i, o) &&
      (minLsn === null || (i.replayLsn !== null && i.replayLsn >= minLsn)),
  );
}

/** Pins, except a session SET whose value the proxy can replay elsewhere (then nothing pins). */
export function isPinning(st: RoutableStatement): boolean {
  if (!st.pin) return false;
  if (st.pin !== 'session-set') return true;
  return !(st.settings ?? []).some((s) => !s.isLocal && s.value !== null);
}

/** Why a batch needs the primary, or null when any instance can run it. */
export function primaryReason(
  statements: readonly RoutableStatement[],
  session: RoutingSession,
): RouteReason | null {
  for (const st of statements) {
    if (st.hint === 'primary') return 'hint-primary';
    if (st.target === 'primary') return 'write';
    // A statement that pins the session keeps it on this server for good: it must be the primary, or
    // every later write of the session would fail with 25006 on a standby.
    if (isPinning(st)) return 'pin';
    for (const e of st.txEffects) {
      if (e?.kind !== 'begin') continue;
      const isReadOnly = e.readOnly ?? session.isReadOnlyByDefault;
      if (!isReadOnly) return 'transaction';
    }
  }
  return session.target === 'primary' ? 'session-target' : null;
}

function readReason(statements: readonly RoutableStatement[], session: RoutingSession): RouteReason {
  if (statements.some((s) => s.txEffects.some((e) => e?.kind === 'begin'))) return 'read-only-transaction';
  if (statements.some((s) => s.hint === 'standby')) return 'hint-standby';
  if (session.target === 'standby') return 'session-target';
  return 'read';
}

/**
 * Remembers the eligible standbys of one (snapshot, options) pair for sessions with no LSN to honour:
 * topology snapshots are immutable and change a few times a second at most, requests thousands.
 */
export class EligibleMemo {
  private snapshot: TopologySnapshot | null = null;
  private options: PolicyOptions | null = null;
  private standbys: InstanceState[] = [];

  get(s: TopologySnapshot, o: PolicyOptions): InstanceState[] {
    if (s !== this.snapshot || o !== this.options) {
      this.snapshot = s;
      this.options = o;
      this.standbys = eligibleStandbys(s, o, null);
    }
    return this.standbys;
  }
}

export function decideRoute(
  input: RouteInput,
  o: PolicyOptions,
  balancer: Balancer,
  memo?: EligibleMemo,
): RouteDecision {
  const { snapshot, session } = input;
  const primary = writablePrimary(snapshot);
  const toPrimary = (reason: RouteReason, detail: string): RouteDecision =>
    primary
      ? { kind: 'route', instanceId: primary.id, role: 'primary', reason, detail }
      : { kind: 'wait-primary', reason, detail: `${detail}; no writable primary` };
  const pickStandby = (minLsn: bigint | null): InstanceState | null => {
    const c = minLsn === null && memo ? memo.get(snapshot, o) : eligibleStandbys(snapshot, o, minLsn);
    const id = balancer.pick(
      c.map((i) => i.id),
      (id) => o.weights[id] ?? 1,
    );
    return id ? (c.find((i) => i.id === id) ?? null) : null;
  };
  const standbyOr = (reason: RouteReason, minLsn: bigint | null, allowFallback: boolean): RouteDecision => {
    const s = pickStandby(minLsn);
    if (s)
      return {
        kind: 'route',
        instanceId: s.id,
        role: 'standby',
        reason,
        detail: 'round robin over eligible standbys',
      };
    if (minLsn !== null && primary) {
      return {
        kind: 'route',
        instanceId: primary.id,
        role: 'primary',
        reason: 'read-your-writes',
        detail: "no standby has replayed the session's last write",
      };
    }
    if (allowFallback && primary) {
      return {
        kind: 'route',
        instanceId: primary.id,
        role: 'primary',
        reason: 'no-eligible-standby',
        detail: 'no standby is eligible',
      };
    }
    if (allowFallback)
      return {
        kind: 'wait-primary',
        reason: 'no-eligible-standby',
        detail: 'no standby is eligible and no primary',
      };
    return { kind: 'unavailable', reason, detail: 'no standby is eligible' };
  };

  switch (input.mode) {
    case 'rw':
      return toPrimary('mode-rw', 'read-write listener');
    case 'ro':
      return standbyOr('mode-ro', null, input.purpose === 'login' || o.fallbackToPrimary);
    case 'r': {
      const all = snapshot.instances.filter(
        (i) => i.isEligible && i.isServing && i.health === 'up' && isFresh(i, o),
      );
      const id = balancer.pick(
        all.map((i) => i.id),
        (id) => o.weights[id] ?? 1,
      );
      const inst = id ? all.find((i) => i.id === id) : undefined;
      if (inst) {
        return {
          kind: 'route',
          instanceId: inst.id,
          role: inst.isWritable ? 'primary' : 'standby',
          reason: 'mode-r',
          detail: 'round robin over every instance',
        };
      }
      return { kind: 'wait-primary', reason: 'mode-r', detail: 'no instance is available' };
    }
    case 'auto': {
      if (input.purpose === 'login') {
        if (primary) return toPrimary('login', 'login on the primary');
        return standbyOr('login', null, true);
      }
      const why = primaryReason(input.statements, session);
      if (why) return toPrimary(why, `statement needs the primary (${why})`);
      return standbyOr(readReason(input.statements, session), session.minLsn, o.fallbackToPrimary);
    }
  }
}
