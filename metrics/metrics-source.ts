// The read-only view of a running proxy that metrics, the ops HTTP server and the admin console read from.
//
// A structural subset of `RunningProxy` (main.ts), so the real proxy satisfies it as is and tests can pass
// plain fakes. Everything here is read at scrape/command time; nothing is copied or cached.

import type { TopologySnapshot } from '../discovery/topology-view.js';

/** A FixedHistogram (proxy/stats.ts): per-bucket counts (not cumulative), upper bounds in seconds. */
export interface HistogramView {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** ProxyStats (proxy/stats.ts). Map keys join their label values with NUL. */
export interface StatsView {
  /** `listener\0role\0instance\0reason`. */
  readonly routed: ReadonlyMap<string, number>;
  /** `sqlstate class\0origin`. */
  readonly errors: ReadonlyMap<string, number>;
  /** By pin reason. */
  readonly pins: ReadonlyMap<string, number>;
  /** `listener\0role`. */
  readonly transactions: ReadonlyMap<string, number>;
  readonly poolWait: HistogramView;
  readonly requestDuration: HistogramView;
  readonly bytesFromClients: number;
  readonly bytesToClients: number;
  readonly authFailures: number;
  readonly answeredLocally?: number;
  /** Logins answered from a pool's login cache, and logins that ran on a server. */
  readonly loginsFromCache?: number;
  readonly loginsFromServer?: number;
  /** Not in ProxyStats yet: read when present. */
  readonly failovers?: number;
  readonly switchovers?: number;
  /** Duration of the last failover (no writable primary -> one again). */
  readonly lastFailoverSeconds?: number | null;
}

export interface ServerView {
  readonly id: number;
  readonly instanceId: string;
  readonly state: string;
  readonly backendPid: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly createdAt: number;
  readonly lastUsedAt?: number;
  readonly txStatus?: string;
}

export interface SessionView {
  readonly id: number;
  readonly user: string;
  readonly database: string;
  readonly listener: string;
  /** login | idle | waiting | active | closed. */
  readonly state: string;
  readonly txStatus: string;
  readonly pinReason: string | null;
  readonly server: ServerView | null;
  readonly connectedAt: number;
  readonly lastRoute: { readonly kind: string; readonly role?: string; readonly instanceId?: string } | null;
}

export interface PoolView {
  readonly key: {
    readonly instanceId: string;
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly database: string;
  };
  stats(): { active: number; idle: number; connecting: number; waiting: number; maxWaitMs: number };
  readonly totalAcquired: number;
  readonly totalWaitMs: number;
  /** Every server connection of the pool, idle ones included; not in Pool yet, read when present. */
  connections?(): Iterable<ServerView>;
}

export interface ListenerView {
  readonly name: string;
  readonly options: { readonly host: string; readonly port: number; readonly mode: string };
  /** The bound port (options.port may be 0). */
  readonly port: number;
  readonly sessions: { readonly size: number };
  readonly authFailures: number;
}

export interface MetricsSource {
  readonly listeners: readonly ListenerView[];
  readonly discovery: { current(): TopologySnapshot };
  readonly pools: { all(): readonly PoolView[] };
  readonly router: { readonly heldCount: number; readonly paused: boolean };
  readonly sessions: Iterable<SessionView> & { readonly size: number };
  readonly stats: StatsView;
  readonly classifier: { readonly cacheHits?: number; readonly cacheMisses?: number };
  /** TurnBatcher (proxy/turn-batcher.ts). */
  readonly turns: { readonly isBusy: boolean; readonly readsPerTurn: number };
  /** ms epoch. */
  readonly startedAt: number;
}

/** A number field that may not exist yet (or be null): undefined unless it is a finite number. */
export function readOptionalNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Label values of a NUL-joined stats key, padded with '' to `n` parts so a malformed key cannot shift labels. */
export function splitKey(key: string, n: number): string[] {
  const parts = key.split('\0');
  while (parts.length < n) parts.push('');
  return parts.slice(0, n);
}

/** LSN in PostgreSQL's text form (pg_lsn output: upper and lower 32 bits in hex, "16/B374D848"). */
export function formatLsn(lsn: bigint | null): string | null {
  if (lsn === null) return null;
  const hi = (lsn >> 32n).toString(16).toUpperCase();
  const lo = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${hi}/${lo}`;
}

/** Role of the instance a pool points at, from the current topology ('unknown' if it left). */
export function roleOf(snapshot: TopologySnapshot, instanceId: string): string {
  return snapshot.instances.find((i) => i.id === instanceId)?.role ?? 'unknown';
}

/**
 * Every server connection we can see: all of a pool's when it exposes them, otherwise only those
 * attached to a client session (idle pooled connections are then counted but not listed).
 */
export function listServers(source: MetricsSource): { server: ServerView; user: string; database: string }[] {
  const seen = new Set<number>();
  const out: { server: ServerView; user: string; database: string }[] = [];
  for (const pool of source.pools.all()) {
    if (typeof pool.connections !== 'function') continue;
    for (const server of pool.connections()) {
      if (seen.has(server.id)) continue;
      seen.add(server.id);
      out.push({ server, user: pool.key.user, database: pool.key.database });
    }
  }
  for (const s of source.sessions) {
    if (!s.server || seen.has(s.server.id)) continue;
    seen.add(s.server.id);
    out.push({ server: s.server, user: s.user, database: s.database });
  }
  return out;
}
