// The /status document and the Patroni-style /primary and /replica checks, computed from a MetricsSource.

import type { InstanceState, TopologySnapshot } from '../discovery/topology-view.js';
import { eligibleStandbys, writablePrimary } from '../router/policy.js';
import { formatLsn, type MetricsSource, roleOf } from './metrics-source.js';

export interface InstanceReport {
  id: string;
  host: string;
  port: number;
  role: string;
  health: string;
  isWritable: boolean;
  isServing: boolean;
  isEligible: boolean;
  isRefused: boolean;
  timeline: number | null;
  /** pg_lsn text ("0/3000148"): bigint does not survive JSON. */
  currentLsn: string | null;
  replayLsn: string | null;
  lagBytes: number | null;
  lagSeconds: number | null;
  lastProbeAt: string | null;
  lastError: string | null;
}

export interface StatusReport {
  startedAt: string;
  uptimeSeconds: number;
  paused: boolean;
  heldWrites: number;
  sessions: number;
  topology: { version: number; primary: string | null; reason: string; instances: InstanceReport[] };
  pools: {
    instance: string;
    role: string;
    user: string;
    database: string;
    active: number;
    idle: number;
    connecting: number;
    waiting: number;
    maxWaitMs: number;
    totalAcquired: number;
    totalWaitMs: number;
  }[];
  listeners: {
    name: string;
    mode: string;
    host: string;
    port: number;
    clients: number;
    authFailures: number;
  }[];
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function reportInstance(i: InstanceState): InstanceReport {
  return {
    id: i.id,
    host: i.host,
    port: i.port,
    role: i.role,
    health: i.health,
    isWritable: i.isWritable,
    isServing: i.isServing,
    isEligible: i.isEligible,
    isRefused: i.isRefused,
    timeline: i.timeline,
    currentLsn: formatLsn(i.currentLsn),
    replayLsn: formatLsn(i.replayLsn),
    lagBytes: i.lagBytes,
    lagSeconds: i.lagSeconds,
    lastProbeAt: isoOrNull(i.lastProbeAt),
    lastError: i.lastError,
  };
}

export function buildStatusReport(source: MetricsSource, now: number): StatusReport {
  const snapshot = source.discovery.current();
  return {
    startedAt: new Date(source.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, (now - source.startedAt) / 1000),
    paused: source.router.paused,
    heldWrites: source.router.heldCount,
    sessions: source.sessions.size,
    topology: {
      version: snapshot.version,
      primary: snapshot.primaryId,
      reason: snapshot.reason,
      instances: snapshot.instances.map(reportInstance),
    },
    pools: source.pools.all().map((p) => {
      const st = p.stats();
      return {
        instance: p.key.instanceId,
        role: roleOf(snapshot, p.key.instanceId),
        user: p.key.user,
        database: p.key.database,
        ...st,
        totalAcquired: p.totalAcquired,
        totalWaitMs: p.totalWaitMs,
      };
    }),
    listeners: source.listeners.map((l) => ({
      name: l.name,
      mode: l.options.mode,
      host: l.options.host,
      port: l.port,
      clients: l.sessions.size,
      authFailures: l.authFailures,
    })),
  };
}

/** Replication lag limits of the routing policy (config.routing.maxLagBytes / maxLagSeconds); null = no limit. */
export interface LagLimits {
  maxLagBytes: number | null;
  maxLagSeconds: number | null;
}

/** The primary writes go to now (Patroni's GET /primary): the router's own test, so they cannot disagree. */
export function findWritablePrimary(snapshot: TopologySnapshot): InstanceState | null {
  return writablePrimary(snapshot);
}

/** Standbys the router would send a read to now (Patroni's GET /replica, lag limits included). */
export function findEligibleStandbys(snapshot: TopologySnapshot, limits: LagLimits): InstanceState[] {
  return eligibleStandbys(snapshot, { ...limits, fallbackToPrimary: false, weights: {} }, null);
}
