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
  /**
   * The session wrote while the topology had no standby, so the proxy did not ask for the LSN:
   * no standby may serve its reads until a later write teaches it one.
   */
  isLsnUnknown: boolean;
}

/** Past every real WAL position (they are 64-bit): no standby ever reaches it. */
const UNREACHABLE_LSN = 1n << 64n;

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

/** The instance with this id; a loop, not Array.find: it runs for every routed request. */
export function instanceById(list: readonly InstanceState[], id: string): InstanceState | undefined {
  for (let i = 0; i < list.length; i++) if (list[i]!.id === id) return list[i];
  return undefined;
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
  // Indexed loops here and below: for-of allocated an iterator per request on this hot path.
  for (let i = 0; i < statements.length; i++) {
    const st = statements[i]!;
    if (st.hint === 'primary') return 'hint-primary';
    if (st.target === 'primary') return 'write';
    // A statement that pins the session keeps it on this server for good: it must be the primary, or
    // every later write of the session would fail with 25006 on a standby.
    if (isPinning(st)) return 'pin';
    for (let j = 0; j < st.txEffects.length; j++) {
      const e = st.txEffects[j];
      if (e?.kind !== 'begin') continue;
      const isReadOnly = e.readOnly ?? session.isReadOnlyByDefault;
      if (!isReadOnly) return 'transaction';
    }
  }
  return session.target === 'primary' ? 'session-target' : null;
}

/** True when one of the statements opens a transaction block (BEGIN, START TRANSACTION). */
export function startsTransactionBlock(statements: readonly Pick<RoutableStatement, 'txEffects'>[]): boolean {
  for (let i = 0; i < statements.length; i++) {
    const effects = statements[i]!.txEffects;
    for (let j = 0; j < effects.length; j++) if (effects[j]?.kind === 'begin') return true;
  }
  return false;
}

function readReason(statements: readonly RoutableStatement[], session: RoutingSession): RouteReason {
  if (startsTransactionBlock(statements)) return 'read-only-transaction';
  for (let i = 0; i < statements.length; i++) if (statements[i]!.hint === 'standby') return 'hint-standby';
  if (session.target === 'standby') return 'session-target';
  return 'read';
}

/**
 * Remembers, per (snapshot, options) pair, the writable primary and the eligible standbys of sessions
 * with no LSN to honour: topology snapshots are immutable and change a few times a second at most,
 * requests thousands.
 */
export class EligibleMemo {
  private snapshot: TopologySnapshot | null = null;
  private options: PolicyOptions | null = null;
  private standbys: InstanceState[] = [];
  private standbyIds: string[] = [];
  private primary: InstanceState | null = null;

  get(s: TopologySnapshot, o: PolicyOptions): InstanceState[] {
    this.refresh(s, o);
    return this.standbys;
  }

  ids(s: TopologySnapshot, o: PolicyOptions): string[] {
    this.refresh(s, o);
    return this.standbyIds;
  }

  writablePrimary(s: TopologySnapshot, o: PolicyOptions): InstanceState | null {
    this.refresh(s, o);
    return this.primary;
  }

  private refresh(s: TopologySnapshot, o: PolicyOptions): void {
    if (s === this.snapshot && o === this.options) return;
    this.snapshot = s;
    this.options = o;
    this.standbys = eligibleStandbys(s, o, null);
    this.standbyIds = this.standbys.map((i) => i.id);
    this.primary = writablePrimary(s);
  }
}

/** Detail of a route to the primary for a statement that needs it: built once per reason, not per request. */
const NEEDS_PRIMARY_DETAIL: Readonly<Partial<Record<RouteReason, string>>> = Object.freeze(
  Object.fromEntries(
    (['hint-primary', 'write', 'pin', 'transaction', 'session-target'] as const).map((r) => [
      r,
      `statement needs the primary (${r})`,
    ]),
  ),
);

function needsPrimaryDetail(why: RouteReason): string {
  return NEEDS_PRIMARY_DETAIL[why] ?? `statement needs the primary (${why})`;
}

/** What decideRoute needs at hand while it decides. */
interface Decision {
  snapshot: TopologySnapshot;
  o: PolicyOptions;
  balancer: Balancer;
  memo: EligibleMemo | undefined;
  primary: InstanceState | null;
}

function toPrimary(d: Decision, reason: RouteReason, detail: string): RouteDecision {
  return d.primary
    ? { kind: 'route', instanceId: d.primary.id, role: 'primary', reason, detail }
    : { kind: 'wait-primary', reason, detail: `${detail}; no writable primary` };
}

function pickStandby(d: Decision, minLsn: bigint | null): InstanceState | null {
  if (minLsn === null && d.memo) {
    const ids = d.memo.ids(d.snapshot, d.o);
    const id = d.balancer.pick(ids, d.o.weights);
    return id === null ? null : (instanceById(d.memo.get(d.snapshot, d.o), id) ?? null);
  }
  const c = eligibleStandbys(d.snapshot, d.o, minLsn);
  const id = d.balancer.pick(
    c.map((i) => i.id),
    d.o.weights,
  );
  return id === null ? null : (instanceById(c, id) ?? null);
}

function standbyOr(
  d: Decision,
  reason: RouteReason,
  minLsn: bigint | null,
  allowFallback: boolean,
): RouteDecision {
  const s = pickStandby(d, minLsn);
  const primary = d.primary;
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
}

export function decideRoute(
  input: RouteInput,
  o: PolicyOptions,
  balancer: Balancer,
  memo?: EligibleMemo,
): RouteDecision {
  const { snapshot, session } = input;
  const d: Decision = {
    snapshot,
    o,
    balancer,
    memo,
    primary: memo ? memo.writablePrimary(snapshot, o) : writablePrimary(snapshot),
  };
  switch (input.mode) {
    case 'rw':
      return toPrimary(d, 'mode-rw', 'read-write listener');
    case 'ro':
      return standbyOr(d, 'mode-ro', null, input.purpose === 'login' || o.fallbackToPrimary);
    case 'r': {
      const all = snapshot.instances.filter(
        (i) => i.isEligible && i.isServing && i.health === 'up' && isFresh(i, o),
      );
      const id = balancer.pick(
        all.map((i) => i.id),
        o.weights,
      );
      const inst = id ? instanceById(all, id) : undefined;
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
        if (d.primary) return toPrimary(d, 'login', 'login on the primary');
        return standbyOr(d, 'login', null, true);
      }
      const why = primaryReason(input.statements, session);
      if (why) return toPrimary(d, why, needsPrimaryDetail(why));
      return standbyOr(
        d,
        readReason(input.statements, session),
        session.isLsnUnknown ? UNREACHABLE_LSN : session.minLsn,
        o.fallbackToPrimary,
      );
    }
  }
}
