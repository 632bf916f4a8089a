// Builds the Prometheus registry: every pgroute metric is read from the running proxy at scrape time.
//
// Names follow the Prometheus conventions (https://prometheus.io/docs/practices/naming/): `pgroute_` prefix,
// `_total` on counters, base units (`_seconds`, `_bytes`). Labels are bounded: listener names, instance ids,
// roles, configured user/database names, route/pin reasons and SQLSTATE classes. Never SQL text, never client
// addresses, never anything a client can choose freely.

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import {
  type MetricsSource,
  readOptionalNumber,
  roleOf,
  type SessionView,
  splitKey,
} from './metrics-source.js';
import { histogramSamples, optionalSample, registerSampled } from './sampled-metric.js';

type Labels = Record<string, string | number>;
type Emit = (labels: Labels, value: number) => void;

/** Client states as PgBouncer counts them (cl_active / cl_waiting / cl_idle), plus login. */
const CLIENT_STATES = ['login', 'idle', 'waiting', 'active'] as const;
const ROLES = ['primary', 'standby', 'unknown'] as const;
const HEALTHS = ['up', 'suspect', 'down'] as const;

export interface RegistryOptions {
  /** Node process metrics (CPU, memory, event loop lag, GC); off in unit tests that compare whole outputs. */
  hasProcessMetrics?: boolean;
}

export function buildMetricsRegistry(source: MetricsSource, options: RegistryOptions = {}): Registry {
  const register = new Registry();
  if (options.hasProcessMetrics ?? true) collectDefaultMetrics({ register, prefix: 'pgroute_' });
  registerClientMetrics(register, source);
  registerPoolMetrics(register, source);
  registerRequestMetrics(register, source);
  registerTopologyMetrics(register, source);
  registerLoopMetrics(register, source);
  return register;
}

/** A gauge recomputed from scratch at every scrape. */
function gauge(
  register: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: (emit: Emit) => void,
) {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [register],
    collect() {
      this.reset();
      read((labels, value) => this.set(labels, value));
    },
  });
}

/** A counter mirrored from a proxy counter: reset, then set to the proxy's value (inc adds up duplicates). */
function counter(
  register: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: (emit: Emit) => void,
) {
  new Counter({
    name,
    help,
    labelNames,
    registers: [register],
    collect() {
      this.reset();
      read((labels, value) => this.inc(labels, value));
    },
  });
}

function liveSessions(source: MetricsSource): SessionView[] {
  return [...source.sessions].filter((s) => s.state !== 'closed');
}

function registerClientMetrics(register: Registry, source: MetricsSource): void {
  gauge(
    register,
    'pgroute_client_connections',
    'Client connections by listener and state (PgBouncer cl_active/cl_waiting/cl_idle; login = authenticating).',
    ['listener', 'state'],
    (emit) => {
      const counts = new Map<string, number>();
      for (const l of source.listeners) for (const st of CLIENT_STATES) counts.set(`${l.name}\0${st}`, 0);
      for (const s of liveSessions(source)) {
        const key = `${s.listener}\0${s.state}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      for (const [key, n] of counts) {
        const [listener, state] = splitKey(key, 2);
        emit({ listener: listener!, state: state! }, n);
      }
    },
  );
  gauge(
    register,
    'pgroute_pinned_clients',
    'Client sessions currently pinned to their server connection, by pin reason.',
    ['reason'],
    (emit) => {
      for (const s of liveSessions(source)) if (s.pinReason !== null) emit({ reason: s.pinReason }, 1);
    },
  );
  counter(
    register,
    'pgroute_pins_total',
    'Times a session was pinned to its server connection, by reason.',
    ['reason'],
    (emit) => {
      for (const [reason, n] of source.stats.pins) emit({ reason }, n);
    },
  );
  counter(
    register,
    'pgroute_auth_failures_total',
    'Client logins refused for bad credentials, by listener.',
    ['listener'],
    (emit) => {
      for (const l of source.listeners) emit({ listener: l.name }, l.authFailures);
    },
  );
  counter(register, 'pgroute_client_received_bytes_total', 'Bytes received from clients.', [], (emit) =>
    emit({}, source.stats.bytesFromClients),
  );
  counter(register, 'pgroute_client_sent_bytes_total', 'Bytes sent to clients.', [], (emit) =>
    emit({}, source.stats.bytesToClients),
  );
}

function registerPoolMetrics(register: Registry, source: MetricsSource): void {
  const poolLabels = ['instance', 'user', 'database'];
  gauge(
    register,
    'pgroute_server_connections',
    'Server connections by instance, current role and state (PgBouncer sv_active/sv_idle/sv_login).',
    ['instance', 'role', 'user', 'database', 'state'],
    (emit) => {
      const snapshot = source.discovery.current();
      for (const p of source.pools.all()) {
        const st = p.stats();
        const base = {
          instance: p.key.instanceId,
          role: roleOf(snapshot, p.key.instanceId),
          user: p.key.user,
          database: p.key.database,
        };
        emit({ ...base, state: 'active' }, st.active);
        emit({ ...base, state: 'idle' }, st.idle);
        emit({ ...base, state: 'login' }, st.connecting);
      }
    },
  );
  gauge(
    register,
    'pgroute_pool_waiting_clients',
    'Requests waiting for a server connection of the pool (PgBouncer cl_waiting).',
    poolLabels,
    (emit) => {
      for (const p of source.pools.all()) emit(poolKeyLabels(p.key), p.stats().waiting);
    },
  );
  gauge(
    register,
    'pgroute_pool_max_wait_seconds',
    'Age of the oldest request waiting for a server connection of the pool (PgBouncer maxwait).',
    poolLabels,
    (emit) => {
      for (const p of source.pools.all()) emit(poolKeyLabels(p.key), p.stats().maxWaitMs / 1000);
    },
  );
  counter(
    register,
    'pgroute_pool_acquired_total',
    'Server connections handed out by the pool (restarts when the instance leaves the topology).',
    poolLabels,
    (emit) => {
      for (const p of source.pools.all()) emit(poolKeyLabels(p.key), p.totalAcquired);
    },
  );
  counter(
    register,
    'pgroute_pool_wait_seconds_total',
    'Total time requests queued for a busy pool.',
    poolLabels,
    (emit) => {
      for (const p of source.pools.all()) emit(poolKeyLabels(p.key), p.totalWaitMs / 1000);
    },
  );
  registerSampled(register, {
    name: 'pgroute_pool_wait_seconds',
    help: 'Time from a request arriving to it having a server connection.',
    type: 'histogram',
    read: () => histogramSamples('pgroute_pool_wait_seconds', source.stats.poolWait),
  });
}

function poolKeyLabels(key: { instanceId: string; user: string; database: string }): Labels {
  return { instance: key.instanceId, user: key.user, database: key.database };
}

function registerRequestMetrics(register: Registry, source: MetricsSource): void {
  counter(
    register,
    'pgroute_requests_routed_total',
    'Requests routed to an instance, by listener, role, instance and routing reason.',
    ['listener', 'role', 'instance', 'reason'],
    (emit) => {
      for (const [key, n] of source.stats.routed) {
        const [listener, role, instance, reason] = splitKey(key, 4);
        emit({ listener: listener!, role: role!, instance: instance!, reason: reason! }, n);
      }
    },
  );
  counter(
    register,
    'pgroute_transactions_total',
    'Transactions completed, by listener and the role of the instance that ran them.',
    ['listener', 'role'],
    (emit) => {
      for (const [key, n] of source.stats.transactions) {
        const [listener, role] = splitKey(key, 2);
        emit({ listener: listener!, role: role! }, n);
      }
    },
  );
  counter(
    register,
    'pgroute_errors_total',
    'Errors sent to clients, by SQLSTATE class and origin (server: forwarded; proxy: raised by pgroute).',
    ['class', 'origin'],
    (emit) => {
      for (const [key, n] of source.stats.errors) {
        const [cls, origin] = splitKey(key, 2);
        emit({ class: cls!, origin: origin! }, n);
      }
    },
  );
  counter(
    register,
    'pgroute_requests_answered_locally_total',
    'Requests pgroute answered without a server (known Parse, lost transaction).',
    [],
    (emit) => emit({}, readOptionalNumber(source.stats.answeredLocally) ?? 0),
  );
  counter(
    register,
    'pgroute_client_logins_total',
    'Client logins completed, by where their server parameters came from (server, cache).',
    ['source'],
    (emit) => {
      emit({ source: 'server' }, readOptionalNumber(source.stats.loginsFromServer) ?? 0);
      emit({ source: 'cache' }, readOptionalNumber(source.stats.loginsFromCache) ?? 0);
    },
  );
  registerSampled(register, {
    name: 'pgroute_request_duration_seconds',
    help: 'Time from a request arriving to its last reply byte, pool wait included.',
    type: 'histogram',
    read: () => histogramSamples('pgroute_request_duration_seconds', source.stats.requestDuration),
  });
  registerSampled(register, {
    name: 'pgroute_classifier_cache_hits_total',
    help: 'Statement classifications answered from the cache.',
    type: 'counter',
    read: () => optionalSample(readOptionalNumber(source.classifier.cacheHits)),
  });
  registerSampled(register, {
    name: 'pgroute_classifier_cache_misses_total',
    help: 'Statement classifications that had to parse the SQL.',
    type: 'counter',
    read: () => optionalSample(readOptionalNumber(source.classifier.cacheMisses)),
  });
}

function registerLoopMetrics(register: Registry, source: MetricsSource): void {
  const turns = source.turns;
  gauge(
    register,
    'pgroute_event_loop_reads_per_turn',
    'Socket reads handled per event-loop turn, a moving average: the load reply batching follows.',
    [],
    (emit) => emit({}, turns.readsPerTurn),
  );
  gauge(
    register,
    'pgroute_reply_batching',
    '1 while the event loop is busy enough that replies to clients are written once per loop turn.',
    [],
    (emit) => emit({}, turns.isBusy ? 1 : 0),
  );
}

function registerTopologyMetrics(register: Registry, source: MetricsSource): void {
  const instances = () => source.discovery.current().instances;
  gauge(
    register,
    'pgroute_instance_role',
    'Role of each instance from its probes: 1 for the current role, 0 for the others.',
    ['instance', 'role'],
    (emit) => {
      for (const i of instances())
        for (const r of ROLES) emit({ instance: i.id, role: r }, i.role === r ? 1 : 0);
    },
  );
  gauge(
    register,
    'pgroute_instance_health',
    'Health of each instance: 1 for the current state (up, suspect, down), 0 for the others.',
    ['instance', 'health'],
    (emit) => {
      for (const i of instances())
        for (const h of HEALTHS) emit({ instance: i.id, health: h }, i.health === h ? 1 : 0);
    },
  );
  const flag = (name: string, help: string, read: (i: ReturnType<typeof instances>[number]) => boolean) =>
    gauge(register, name, help, ['instance'], (emit) => {
      for (const i of instances()) emit({ instance: i.id }, read(i) ? 1 : 0);
    });
  flag('pgroute_instance_writable', '1 for the elected, writable primary.', (i) => i.isWritable);
  flag('pgroute_instance_eligible', '1 when the instance may serve queries.', (i) => i.isEligible);
  flag(
    'pgroute_instance_serving',
    '1 when the sources say the instance may take new work.',
    (i) => i.isServing,
  );
  const measure = (
    name: string,
    help: string,
    read: (i: ReturnType<typeof instances>[number]) => number | null,
  ) =>
    gauge(register, name, help, ['instance'], (emit) => {
      for (const i of instances()) {
        const v = read(i);
        if (v !== null) emit({ instance: i.id }, v);
      }
    });
  measure('pgroute_instance_timeline', 'Timeline the instance is on.', (i) => i.timeline);
  measure(
    'pgroute_instance_replication_lag_bytes',
    "WAL bytes between the primary's current LSN and the instance's replay LSN.",
    (i) => i.lagBytes,
  );
  measure(
    'pgroute_instance_replication_lag_seconds',
    'now() - pg_last_xact_replay_timestamp() on the instance (0 when fully replayed).',
    (i) => i.lagSeconds,
  );
  gauge(register, 'pgroute_primary_known', '1 when a writable primary is elected.', [], (emit) =>
    emit({}, source.discovery.current().primaryId !== null ? 1 : 0),
  );
  gauge(
    register,
    'pgroute_topology_version',
    'Version of the topology snapshot; changes on every update.',
    [],
    (emit) => emit({}, source.discovery.current().version),
  );
  gauge(
    register,
    'pgroute_held_writes',
    'Requests held until a primary is known (or until RESUME).',
    [],
    (emit) => emit({}, source.router.heldCount),
  );
  gauge(register, 'pgroute_paused', '1 while the admin console has paused routing.', [], (emit) =>
    emit({}, source.router.paused ? 1 : 0),
  );
  registerSampled(register, {
    name: 'pgroute_failovers_total',
    help: 'Unplanned changes of primary seen.',
    type: 'counter',
    read: () => optionalSample(readOptionalNumber(source.stats.failovers)),
  });
  registerSampled(register, {
    name: 'pgroute_switchovers_total',
    help: 'Planned changes of primary seen.',
    type: 'counter',
    read: () => optionalSample(readOptionalNumber(source.stats.switchovers)),
  });
  registerSampled(register, {
    name: 'pgroute_last_failover_duration_seconds',
    help: 'Time without a writable primary during the last failover.',
    type: 'gauge',
    read: () => optionalSample(readOptionalNumber(source.stats.lastFailoverSeconds)),
  });
}
