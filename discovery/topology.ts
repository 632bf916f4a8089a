// Pure topology core: merges source endpoints and probe results into immutable snapshots and elects the primary.

import { describeChanges, LAG_UPDATED } from './describe-changes.js';
import type { Election, ElectionInput } from './elect-primary.js';
import { electPrimary, findMajoritySystemIdentifier, isForeignSystem } from './elect-primary.js';
import type { SourceEndpoint } from './endpoint-source.js';
import { formatInstanceId } from './instance-address.js';
import { measureLsnDistance } from './lsn.js';
import type { ProbeResult } from './probe-query.js';
import type { InstanceHealth, InstanceRole, InstanceState, TopologySnapshot } from './topology-view.js';

export interface TopologyOptions {
  /** ms epoch; the only source of time. */
  now: () => number;
  /** Consecutive failures (probe failures, or a reported failure then probe failures) before 'down'. Default 2. */
  failuresBeforeDown?: number;
  /** Pin the cluster's system identifier up front instead of learning it from the first confirmed primary. */
  expectedSystemIdentifier?: string | null;
}

interface SourceOpinion {
  roleHint: InstanceRole | null;
  isServing: boolean;
}

interface InstanceRecord {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  probe: ProbeResult | null;
  probedAt: number | null;
  health: InstanceHealth;
  consecutiveFailures: number;
  lastError: string | null;
}

export interface InstanceTarget {
  id: string;
  host: string;
  port: number;
}

const DEFAULT_FAILURES_BEFORE_DOWN = 2;

export class Topology {
  private readonly now: () => number;
  private readonly failuresBeforeDown: number;
  private readonly sources = new Map<string, Map<string, SourceEndpoint>>();
  private readonly records = new Map<string, InstanceRecord>();
  private pinnedSystemId: string | null;
  /** Recent (probe time, current LSN) samples of the elected primary, oldest first. */
  private primaryHistory: { at: number; lsn: bigint }[] = [];
  private historyOf: string | null = null;
  /** Highest timeline any instance of this cluster reported: primaries below it are stale (fencing). */
  private highestTimeline: number | null = null;
  private snapshot: TopologySnapshot = {
    version: 0,
    instances: [],
    primaryId: null,
    reason: 'initial',
    isLagOnly: false,
  };

  constructor(options: TopologyOptions) {
    this.now = options.now;
    this.failuresBeforeDown = Math.max(1, options.failuresBeforeDown ?? DEFAULT_FAILURES_BEFORE_DOWN);
    this.pinnedSystemId = options.expectedSystemIdentifier ?? null;
  }

  current(): TopologySnapshot {
    return this.snapshot;
  }

  /** The cluster's system identifier once a primary has been confirmed (or as configured). */
  clusterSystemIdentifier(): string | null {
    return this.pinnedSystemId;
  }

  /** Every instance any source currently lists, for the prober. */
  targets(): InstanceTarget[] {
    return [...this.records.values()].map(({ id, host, port }) => ({ id, host, port }));
  }

  /** Replaces everything `sourceName` said before with `endpoints`. */
  applySourceUpdate(sourceName: string, endpoints: readonly SourceEndpoint[]): TopologySnapshot | null {
    const byId = new Map<string, SourceEndpoint>();
    for (const endpoint of endpoints) {
      const id = formatInstanceId(endpoint.host, endpoint.port);
      const seen = byId.get(id);
      byId.set(id, seen === undefined ? { ...endpoint } : { ...seen, ...mergeOpinions(seen, endpoint) });
    }
    this.sources.set(sourceName, byId);
    this.syncRecords();
    return this.publish(`source ${sourceName} update`);
  }

  /** Removes a source and every instance only it listed. */
  removeSource(sourceName: string): TopologySnapshot | null {
    if (!this.sources.delete(sourceName)) return null;
    this.syncRecords();
    return this.publish(`source ${sourceName} removed`);
  }

  /**
   * A probe answered. With `vouchesForHealth` false (it was already running when a data connection
   * reported the instance failing), its data is kept but a suspect instance stays suspect: the answer
   * may predate the failure, and routing writes back to a dying primary would fail them. The probe
   * queued behind it decides.
   */
  applyProbeResult(id: string, result: ProbeResult, vouchesForHealth = true): TopologySnapshot | null {
    const record = this.records.get(id);
    if (record === undefined) return null;
    record.probe = result;
    record.probedAt = this.now();
    if (!vouchesForHealth && record.health !== 'up')
      return this.publish(`probe ${id} (predates a reported failure)`);
    record.health = 'up';
    record.consecutiveFailures = 0;
    record.lastError = null;
    return this.publish(`probe ${id}`);
  }

  applyProbeFailure(id: string, error: unknown): TopologySnapshot | null {
    const record = this.records.get(id);
    if (record === undefined) return null;
    record.consecutiveFailures += 1;
    record.lastError = describeError(error);
    record.health = record.consecutiveFailures >= this.failuresBeforeDown ? 'down' : 'suspect';
    return this.publish(`probe of ${id} failed: ${record.lastError}`);
  }

  /** A data connection failed: stop trusting the instance until a probe says otherwise. */
  markSuspect(id: string, reason = 'reported failure'): TopologySnapshot | null {
    const record = this.records.get(id);
    if (record === undefined || record.health === 'down') return null;
    record.health = 'suspect';
    record.consecutiveFailures = Math.max(record.consecutiveFailures, 1);
    record.lastError = reason;
    return this.publish(`${id} suspect: ${reason}`);
  }

  private syncRecords(): void {
    const listed = new Map<string, SourceEndpoint>();
    for (const endpoints of this.sources.values()) {
      for (const [id, endpoint] of endpoints) if (!listed.has(id)) listed.set(id, endpoint);
    }
    for (const id of this.records.keys()) if (!listed.has(id)) this.records.delete(id);
    for (const [id, endpoint] of listed) {
      if (this.records.has(id)) continue;
      this.records.set(id, {
        id,
        host: endpoint.host,
        port: endpoint.port,
        probe: null,
        probedAt: null,
        // Not confirmed by a probe yet.
        health: 'suspect',
        consecutiveFailures: 0,
        lastError: null,
      });
    }
  }

  private opinionOf(id: string): SourceOpinion | null {
    let opinion: SourceOpinion | null = null;
    for (const endpoints of this.sources.values()) {
      const endpoint = endpoints.get(id);
      if (endpoint === undefined) continue;
      opinion =
        opinion === null
          ? { roleHint: endpoint.roleHint, isServing: endpoint.isServing }
          : mergeOpinions(opinion, endpoint);
    }
    return opinion;
  }

  /**
   * Lag compares a standby's replay position with the primary's position at the time of that
   * standby's probe, not the primary's newest one: probes run in parallel, and under heavy writes
   * a primary sampled later than the standby would make every standby look behind by up to one
   * probe interval's worth of WAL.
   */
  private recordPrimaryLsn(primaryId: string | null, lsn: bigint | null, at: number | null): void {
    if (primaryId !== this.historyOf) {
      this.historyOf = primaryId;
      this.primaryHistory = [];
    }
    if (lsn === null || at === null) return;
    const last = this.primaryHistory[this.primaryHistory.length - 1];
    if (last && last.at === at) {
      last.lsn = lsn;
      return;
    }
    this.primaryHistory.push({ at, lsn });
    if (this.primaryHistory.length > PRIMARY_HISTORY) this.primaryHistory.shift();
  }

  /** The primary's LSN as last sampled at or before `at` (the oldest sample if none is that old). */
  private primaryLsnAt(at: number | null): bigint | null {
    const h = this.primaryHistory;
    if (h.length === 0) return null;
    if (at === null) return h[h.length - 1]!.lsn;
    for (let i = h.length - 1; i >= 0; i--) if (h[i]!.at <= at) return h[i]!.lsn;
    return h[0]!.lsn;
  }

  private publish(cause: string): TopologySnapshot | null {
    const records = [...this.records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const opinions = new Map(records.map((record) => [record.id, this.opinionOf(record.id)]));
    const inputs: ElectionInput[] = records.map((record) => ({
      id: record.id,
      isUp: record.health === 'up',
      isInRecovery: record.probe?.isInRecovery ?? null,
      timeline: record.probe?.timeline ?? null,
      systemIdentifier: record.probe?.systemIdentifier ?? null,
      sourceRole: opinions.get(record.id)?.roleHint ?? null,
    }));
    const clusterSystemId = this.pinnedSystemId ?? findMajoritySystemIdentifier(inputs);
    for (const input of inputs) {
      if (input.timeline !== null && !isForeignSystem(input.systemIdentifier, clusterSystemId)) {
        this.highestTimeline = Math.max(this.highestTimeline ?? 0, input.timeline);
      }
    }
    const election = electPrimary(inputs, clusterSystemId, this.highestTimeline);
    const primaryId = election.kind === 'elected' ? election.primaryId : null;
    const primary = primaryId === null ? undefined : this.records.get(primaryId);
    if (this.pinnedSystemId === null && primary?.probe?.systemIdentifier) {
      // First confirmed primary: from now on its identifier is the cluster's.
      this.pinnedSystemId = primary.probe.systemIdentifier;
    }
    this.recordPrimaryLsn(primaryId, primary?.probe?.currentLsn ?? null, primary?.probedAt ?? null);
    const instances = records.map((record) =>
      buildState(
        record,
        opinions.get(record.id) ?? null,
        primaryId,
        this.primaryLsnAt(record.probedAt),
        this.pinnedSystemId ?? clusterSystemId,
      ),
    );
    const prev = this.snapshot;
    const changes = describeChanges(
      prev.instances,
      instances,
      prev.primaryId,
      primaryId,
      describeElection(election),
    );
    if (changes.length === 0) return null;
    this.snapshot = Object.freeze({
      version: prev.version + 1,
      instances: Object.freeze(instances.map((state) => Object.freeze(state))),
      primaryId,
      reason: `${cause}: ${changes.join('; ')}`,
      isLagOnly: changes.length === 1 && changes[0] === LAG_UPDATED,
    });
    return this.snapshot;
  }
}

/** Samples of the primary's LSN kept for lag computation (a few seconds at the default interval). */
const PRIMARY_HISTORY = 32;

function buildState(
  record: InstanceRecord,
  opinion: SourceOpinion | null,
  primaryId: string | null,
  primaryLsn: bigint | null,
  clusterSystemId: string | null,
): InstanceState {
  const probe = record.probe;
  const role: InstanceRole = probe === null ? 'unknown' : probe.isInRecovery ? 'standby' : 'primary';
  const isWritable = record.id === primaryId;
  const isRefused = isForeignSystem(probe?.systemIdentifier ?? null, clusterSystemId);
  const isStandby = role === 'standby';
  let lagBytes: number | null = null;
  let lagSeconds: number | null = null;
  if (isWritable) {
    lagBytes = 0;
    lagSeconds = 0;
  } else if (isStandby && probe !== null) {
    lagBytes =
      primaryLsn !== null && probe.replayLsn !== null
        ? measureLsnDistance(primaryLsn, probe.replayLsn)
        : null;
    lagSeconds = probe.replayDelaySeconds;
  }
  return {
    id: record.id,
    host: record.host,
    port: record.port,
    role,
    health: record.health,
    isWritable,
    isServing: opinion?.isServing ?? false,
    timeline: probe?.timeline ?? null,
    systemIdentifier: probe?.systemIdentifier ?? null,
    currentLsn: probe?.currentLsn ?? null,
    replayLsn: probe?.replayLsn ?? null,
    lagBytes,
    lagSeconds,
    lastProbeAt: record.probedAt,
    sourceRole: opinion?.roleHint ?? null,
    isRefused,
    isEligible: record.health === 'up' && !isRefused && (isWritable || isStandby),
    lastError: record.lastError,
  };
}

/** Two opinions about one instance: any "primary" hint wins over "standby"; serving only if all agree. */
function mergeOpinions(a: SourceOpinion, b: SourceOpinion): SourceOpinion {
  return { roleHint: strongerHint(a.roleHint, b.roleHint), isServing: a.isServing && b.isServing };
}

const HINT_STRENGTH: Record<InstanceRole, number> = { primary: 3, standby: 2, unknown: 1 };

function strongerHint(a: InstanceRole | null, b: InstanceRole | null): InstanceRole | null {
  if (a === null) return b;
  if (b === null) return a;
  return HINT_STRENGTH[a] >= HINT_STRENGTH[b] ? a : b;
}

function describeElection(election: Election): string {
  switch (election.kind) {
    case 'elected':
      return `${election.basis}: ${election.detail}`;
    case 'fenced':
      return `fenced, ${election.detail}`;
    case 'none':
      return election.detail;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}
