// The result sets of the admin console's SHOW commands, computed from the running proxy's read-only view.
//
// Column names follow PgBouncer's SHOW output where the concept is the same (https://www.pgbouncer.org/usage.html),
// so existing dashboards and habits carry over; pgroute-only concepts (instance, role, pin) get their own columns.

import {
  formatLsn,
  listServers,
  type MetricsSource,
  readOptionalNumber,
  roleOf,
  type SessionView,
  splitKey,
} from '../../metrics/metrics-source.js';

export type Cell = string | null;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

/** What SHOW POOLS needs besides the source. */
export interface PoolModeView {
  readonly pool: { readonly mode: string };
}

const num = (v: number | null | undefined): Cell => (v === null || v === undefined ? null : String(v));
/** PostgreSQL's text form of a boolean. */
const bool = (v: boolean): Cell => (v ? 't' : 'f');
const iso = (ms: number | null | undefined): Cell =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

function liveSessions(source: MetricsSource): SessionView[] {
  return [...source.sessions].filter((s) => s.state !== 'closed');
}

export function showPools(source: MetricsSource, config: PoolModeView): Table {
  const snapshot = source.discovery.current();
  const sessions = liveSessions(source);
  const rows = source.pools.all().map((p) => {
    const st = p.stats();
    const clActive = sessions.filter(
      (s) =>
        s.server?.instanceId === p.key.instanceId && s.user === p.key.user && s.database === p.key.database,
    ).length;
    return [
      p.key.database,
      p.key.user,
      num(clActive),
      num(st.waiting),
      num(st.active),
      num(st.idle),
      num(st.connecting),
      num(Math.floor(st.maxWaitMs / 1000)),
      num((st.maxWaitMs % 1000) * 1000),
      config.pool.mode,
      p.key.instanceId,
      roleOf(snapshot, p.key.instanceId),
    ];
  });
  return {
    columns: [
      'database',
      'user',
      'cl_active',
      'cl_waiting',
      'sv_active',
      'sv_idle',
      'sv_login',
      'maxwait',
      'maxwait_us',
      'pool_mode',
      'instance',
      'role',
    ],
    rows,
  };
}

export function showClients(source: MetricsSource): Table {
  const rows = liveSessions(source).map((s) => [
    'C',
    num(s.id),
    s.user,
    s.database,
    s.state,
    s.listener,
    s.txStatus,
    s.pinReason,
    s.server?.instanceId ?? null,
    num(s.server?.id),
    s.lastRoute?.role ?? null,
    iso(s.connectedAt),
  ]);
  return {
    columns: [
      'type',
      'id',
      'user',
      'database',
      'state',
      'listener',
      'tx',
      'pinned',
      'server',
      'server_id',
      'role',
      'connect_time',
    ],
    rows,
  };
}

export function showServers(source: MetricsSource): Table {
  const snapshot = source.discovery.current();
  const clientOf = new Map<number, number>();
  for (const s of liveSessions(source)) if (s.server) clientOf.set(s.server.id, s.id);
  const rows = listServers(source).map(({ server, user, database }) => [
    'S',
    num(server.id),
    user,
    database,
    server.state,
    server.instanceId,
    roleOf(snapshot, server.instanceId),
    num(server.backendPid),
    iso(server.createdAt),
    num(server.bytesIn),
    num(server.bytesOut),
    num(clientOf.get(server.id)),
  ]);
  return {
    columns: [
      'type',
      'id',
      'user',
      'database',
      'state',
      'instance',
      'role',
      'backend_pid',
      'connect_time',
      'bytes_in',
      'bytes_out',
      'client',
    ],
    rows,
  };
}

export function showNodes(source: MetricsSource): Table {
  const rows = source.discovery
    .current()
    .instances.map((i) => [
      i.id,
      i.role,
      i.health,
      bool(i.isWritable),
      bool(i.isServing),
      bool(i.isEligible),
      num(i.timeline),
      formatLsn(i.currentLsn),
      formatLsn(i.replayLsn),
      num(i.lagBytes),
      num(i.lagSeconds),
      iso(i.lastProbeAt),
      i.lastError,
    ]);
  return {
    columns: [
      'instance',
      'role',
      'health',
      'writable',
      'serving',
      'eligible',
      'timeline',
      'current_lsn',
      'replay_lsn',
      'lag_bytes',
      'lag_seconds',
      'last_probe',
      'last_error',
    ],
    rows,
  };
}

export function showStats(source: MetricsSource): Table {
  const { stats } = source;
  const rows: Cell[][] = [];
  for (const [key, n] of stats.routed) {
    const [listener, role, instance, reason] = splitKey(key, 4);
    rows.push(['routed', `listener=${listener} role=${role} instance=${instance} reason=${reason}`, num(n)]);
  }
  for (const [key, n] of stats.transactions) {
    const [listener, role] = splitKey(key, 2);
    rows.push(['transactions', `listener=${listener} role=${role}`, num(n)]);
  }
  for (const [key, n] of stats.errors) {
    const [cls, origin] = splitKey(key, 2);
    rows.push(['errors', `class=${cls} origin=${origin}`, num(n)]);
  }
  for (const [reason, n] of stats.pins) rows.push(['pins', `reason=${reason}`, num(n)]);
  const avgUs = (sum: number, count: number) => (count === 0 ? 0 : Math.round((sum / count) * 1e6));
  const single: [string, number | undefined][] = [
    ['requests', stats.requestDuration.count],
    ['request_time_avg_us', avgUs(stats.requestDuration.sum, stats.requestDuration.count)],
    ['pool_waits', stats.poolWait.count],
    ['pool_wait_avg_us', avgUs(stats.poolWait.sum, stats.poolWait.count)],
    ['bytes_received', stats.bytesFromClients],
    ['bytes_sent', stats.bytesToClients],
    ['auth_failures', stats.authFailures],
    ['answered_locally', readOptionalNumber(stats.answeredLocally)],
    ['logins_from_server', readOptionalNumber(stats.loginsFromServer)],
    ['logins_from_cache', readOptionalNumber(stats.loginsFromCache)],
    ['classifier_cache_hits', readOptionalNumber(source.classifier.cacheHits)],
    ['classifier_cache_misses', readOptionalNumber(source.classifier.cacheMisses)],
    ['failovers', readOptionalNumber(stats.failovers)],
    ['switchovers', readOptionalNumber(stats.switchovers)],
    ['last_failover_seconds', readOptionalNumber(stats.lastFailoverSeconds)],
  ];
  for (const [name, v] of single) if (v !== undefined) rows.push([name, null, num(v)]);
  return { columns: ['stat', 'key', 'value'], rows };
}

export function showListeners(source: MetricsSource): Table {
  return {
    columns: ['name', 'mode', 'host', 'port', 'clients', 'auth_failures'],
    rows: source.listeners.map((l) => [
      l.name,
      l.options.mode,
      l.options.host,
      num(l.port),
      num(l.sessions.size),
      num(l.authFailures),
    ]),
  };
}

export function showLists(source: MetricsSource): Table {
  const sessions = liveSessions(source);
  const byState = (st: string) => sessions.filter((s) => s.state === st).length;
  let active = 0;
  let idle = 0;
  let login = 0;
  for (const p of source.pools.all()) {
    const st = p.stats();
    active += st.active;
    idle += st.idle;
    login += st.connecting;
  }
  const items: [string, number][] = [
    ['listeners', source.listeners.length],
    ['instances', source.discovery.current().instances.length],
    ['pools', source.pools.all().length],
    ['clients', sessions.length],
    ['active_clients', byState('active')],
    ['waiting_clients', byState('waiting')],
    ['idle_clients', byState('idle')],
    ['login_clients', byState('login')],
    ['servers', active + idle + login],
    ['used_servers', active],
    ['free_servers', idle],
    ['login_servers', login],
    ['held_writes', source.router.heldCount],
  ];
  return { columns: ['list', 'items'], rows: items.map(([k, v]) => [k, num(v)]) };
}

/** Key paths whose last segment is one of these never leave the process. */
const SECRET_KEYS = new Set(['password', 'secret', 'token']);

/** The configuration as key/value rows (`pool.size`, `listen.0.port`), secrets REDACTED. */
export function showConfig(config: object): Table {
  const rows: Cell[][] = [];
  const walk = (v: unknown, path: string, last: string): void => {
    if (SECRET_KEYS.has(last.toLowerCase()) && v !== null && v !== undefined) {
      rows.push([path, 'REDACTED']);
    } else if (Array.isArray(v)) {
      if (v.length === 0) rows.push([path, '[]']);
      for (const [i, item] of v.entries()) walk(item, `${path}.${i}`, String(i));
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      if (entries.length === 0) rows.push([path, '{}']);
      for (const [k, child] of entries) walk(child, path ? `${path}.${k}` : k, k);
    } else {
      rows.push([path, v === null || v === undefined ? null : String(v)]);
    }
  };
  walk(config, '', '');
  return { columns: ['key', 'value'], rows };
}
