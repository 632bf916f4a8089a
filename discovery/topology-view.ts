// The contract between discovery and the proxy: immutable topology snapshots and the view that serves them.

export type InstanceRole = 'primary' | 'standby' | 'unknown';
export type InstanceHealth = 'up' | 'suspect' | 'down';

export interface InstanceState {
  /** "host:port" (IPv6 hosts in brackets: "[::1]:5432"). */
  id: string;
  host: string;
  port: number;
  /** From probes (pg_is_in_recovery()); 'unknown' until the first successful probe. */
  role: InstanceRole;
  health: InstanceHealth;
  /** True only for THE elected primary (fencing: never two, none while ambiguous). */
  isWritable: boolean;
  /** Sources say it may take new work (Kubernetes endpoint ready/serving, not terminating); static: true. */
  isServing: boolean;
  timeline: number | null;
  systemIdentifier: string | null;
  /** Primary: pg_current_wal_lsn(). */
  currentLsn: bigint | null;
  /** Standby: pg_last_wal_replay_lsn(). */
  replayLsn: bigint | null;
  /** Elected primary's current LSN minus this instance's replay LSN (0 for the primary itself). */
  lagBytes: number | null;
  /** now() - pg_last_xact_replay_timestamp(), 0 when fully replayed (receive == replay) and for the primary. */
  lagSeconds: number | null;
  /** ms epoch (injected clock) of the last successful probe reflected in this snapshot. */
  lastProbeAt: number | null;
  /** What the sources (Kubernetes instanceRole label / -rw endpoint) say; null when no source gives a hint. */
  sourceRole: InstanceRole | null;
  /** Its system identifier differs from the cluster's: never eligible for anything. */
  isRefused: boolean;
  /**
   * May serve queries at all: up, not refused, and either a standby or the elected primary. A primary that is
   * not elected (old primary restarted un-demoted, or ambiguity) is a stray and is not eligible.
   */
  isEligible: boolean;
  /** Last probe or data-connection error while not up; null once up. */
  lastError: string | null;
}

export interface TopologySnapshot {
  readonly version: number;
  readonly instances: readonly InstanceState[];
  readonly primaryId: string | null;
  /** Human-readable cause and effect of the change that produced this snapshot. */
  readonly reason: string;
  /** Only LSNs and lag moved: roles, health, membership and the primary are as in the previous snapshot. */
  readonly isLagOnly: boolean;
}

export interface TopologyView {
  current(): TopologySnapshot;
  onChange(listener: (next: TopologySnapshot, prev: TopologySnapshot) => void): () => void;
  /** Data-connection error: mark the instance suspect at once and probe it immediately. */
  reportFailure(instanceId: string, reason: string): void;
}
