// Composition root: builds every part from the config, wires them together, and stops them in order.

import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { Discovery } from './discovery/discovery.js';
import type { EndpointSource } from './discovery/endpoint-source.js';
import { StaticSource } from './discovery/static-source.js';
import { buildScramVerifier, formatScramVerifier } from './proxy/auth/scram.js';
import { CancelRegistry } from './proxy/cancel-registry.js';
import type { ClientSession, SessionDeps } from './proxy/client-session.js';
import type { UserEntry } from './proxy/client-startup.js';
import { Listener, type ListenerMode } from './proxy/listener.js';
import { PoolRegistry } from './proxy/server/pool-registry.js';
import { ServerConnection } from './proxy/server/server-connection.js';
import type { StatementClassifier } from './proxy/session-types.js';
import { ProxyStats } from './proxy/stats.js';
import { TopologyRouter } from './proxy/topology-router.js';
import { Classifier } from './router/classify.js';

export interface RunningProxy {
  readonly config: Readonly<Config>;
  readonly listeners: readonly Listener[];
  readonly discovery: Discovery;
  readonly pools: PoolRegistry;
  readonly router: TopologyRouter;
  readonly sessions: ReadonlySet<ClientSession>;
  readonly stats: ProxyStats;
  readonly classifier: StatementClassifier & { cacheHits?: number; cacheMisses?: number };
  readonly startedAt: number;
  /** Port of the listener with this mode (the first one), for tests and the demo. */
  portOf(mode: ListenerMode): number;
  /** Graceful: stop accepting, let transactions finish (up to shutdown.timeout), close. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  clock?: () => number;
  /** Extra endpoint sources (Kubernetes), built by the caller. */
  sources?: EndpointSource[];
  /** Statement classifier; by default the libpg-query one. */
  classifier?: StatementClassifier;
}

export function createLogger(config: Readonly<Config>): Logger {
  if (config.log.format === 'pretty') {
    return pino({
      level: config.log.level,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return pino({ level: config.log.level, redact: ['password', '*.password', 'users[*].password'] });
}

/** Client-side users: SCRAM verifiers are derived once at start, not per login. */
export function buildUserDirectory(config: Readonly<Config>): Map<string, UserEntry> {
  const users = new Map<string, UserEntry>();
  for (const u of config.users) {
    const verifier =
      u.password === null
        ? null
        : u.password.startsWith('SCRAM-SHA-256$')
          ? u.password
          : formatScramVerifier(buildScramVerifier(u.password));
    users.set(u.name, { name: u.name, password: u.password, auth: u.auth, scramVerifier: verifier });
  }
  return users;
}

export async function startPgroute(config: Readonly<Config>, opts: StartOptions = {}): Promise<RunningProxy> {
  const log = opts.log ?? createLogger(config);
  const clock = opts.clock ?? Date.now;
  const users = buildUserDirectory(config);
  const stats = new ProxyStats();
  const firstWithPassword = config.users.find((u) => u.password !== null);

  const sources: EndpointSource[] = [...(opts.sources ?? [])];
  if (config.cluster.hosts.length > 0) sources.push(new StaticSource({ hosts: config.cluster.hosts }));
  const discovery = new Discovery({
    sources,
    probe: {
      user: config.cluster.probe.user ?? firstWithPassword?.name ?? config.users[0]!.name,
      password: config.cluster.probe.password ?? firstWithPassword?.password ?? undefined,
      database: config.cluster.probe.database,
      intervalMs: config.cluster.probe.interval,
      connectTimeoutMs: config.cluster.probe.timeout,
      queryTimeoutMs: config.cluster.probe.timeout,
    },
    now: clock,
    logger: log.child({ component: 'discovery' }),
  });

  const ca = config.server.sslrootcert ? readFileSync(config.server.sslrootcert) : undefined;
  const poolOptions = {
    size: config.pool.size,
    queueTimeoutMs: config.pool.queueTimeout,
    maxWaiting: config.pool.maxWaiting,
    idleTimeoutMs: config.pool.idleTimeout,
    maxLifetimeMs: config.pool.maxLifetime,
  };
  const pools = new PoolRegistry(
    poolOptions,
    (key) =>
      ServerConnection.connect(
        {
          host: key.host,
          port: key.port,
          user: key.user,
          password: users.get(key.user)?.password ?? null,
          database: key.database,
          connectTimeoutMs: config.pool.connectTimeout,
          sslmode: config.server.sslmode,
          ca,
          maxMessageSize: config.limits.maxMessageSize,
        },
        clock(),
      ),
    clock,
  );

  const router = new TopologyRouter(
    discovery,
    pools,
    {
      policy: () => ({
        fallbackToPrimary: config.routing.fallbackToPrimary,
        maxLagBytes: config.routing.maxLagBytes,
        maxLagSeconds: config.routing.maxLagSeconds,
        weights: config.routing.weights,
      }),
      primaryWaitTimeoutMs: config.routing.primaryWaitTimeout,
      maxHeld: config.pool.maxWaiting,
    },
    { onRouted: (listener, d) => stats.countRouted(listener, d.role, d.instanceId, d.reason), onHeld: () => {} },
  );

  // Instances that leave the topology take their pools with them; failed ones lose their idle connections.
  discovery.onChange((next, prev) => {
    const present = new Set(next.instances.map((i) => i.id));
    for (const i of prev.instances) if (!present.has(i.id)) pools.retire(i.id);
    for (const i of next.instances) if (i.health === 'down') pools.dropIdle(i.id);
  });

  const classifier: StatementClassifier =
    opts.classifier ??
    (await Classifier.create({
      cacheSize: 10_000,
      readFunctions: config.routing.readFunctions,
      writeFunctions: config.routing.writeFunctions,
    }));

  let tlsContext: tls.SecureContext | null = null;
  if (config.tls) {
    tlsContext = tls.createSecureContext({
      cert: readFileSync(config.tls.cert),
      key: readFileSync(config.tls.key),
    });
  }

  const cancels = new CancelRegistry<ClientSession>();
  const accepted = new LRUCache<string, true>({ max: 50_000 });
  const knownStatements = {
    has: (n: string) => accepted.has(n),
    add: (n: string) => void accepted.set(n, true),
  };
  const sessions = new Set<ClientSession>();
  let nextClientId = 1;
  const sessionDeps = (mode: ListenerMode, name: string): Omit<SessionDeps, 'onClosed' | 'log'> => ({
    clock,
    poolMode: config.pool.mode,
    classifier,
    router: router.forMode(mode, name),
    maxMessageSize: config.limits.maxMessageSize,
    maxPreparedStatements: config.limits.maxPreparedStatements,
    maxPendingBytes: config.limits.maxPendingBytes,
    knownStatements,
    stats,
    monotonic: () => performance.now(),
    onServerFailure: (instanceId, reason) => discovery.reportFailure(instanceId, reason),
  });

  const listeners = config.listen.map(
    (l) =>
      new Listener(
        {
          host: l.host,
          port: l.port,
          mode: l.mode,
          maxClients: config.limits.maxClients,
          authTimeoutMs: config.limits.authTimeout,
        },
        {
          log,
          findUser: (n) => users.get(n),
          tls: () =>
            tlsContext ? { context: tlsContext, isRequired: config.tls!.mode === 'require' } : null,
          sessionDeps: (mode) => sessionDeps(mode, `${mode}@${l.host}:${l.port}`),
          cancels,
          clientCount: () => sessions.size,
          onSession: (s, isOpen) => (isOpen ? sessions.add(s) : sessions.delete(s)),
          onAuthFailure: () => stats.authFailures++,
          nextClientId: () => nextClientId++,
        },
      ),
  );

  await discovery.start();
  for (const l of listeners) await l.listen();
  const evictTimer = setInterval(() => pools.evict(), 5_000);
  evictTimer.unref();
  log.info(
    { event: 'started', listeners: listeners.map((l) => l.name), instances: config.cluster.hosts },
    'pgroute started',
  );

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info(
        { event: 'stopping', timeoutMs: config.shutdown.timeout },
        'stopping: no new clients, draining',
      );
      await Promise.all(listeners.map((l) => l.stopAccepting()));
      for (const l of listeners) l.drain();
      const deadline = clock() + config.shutdown.timeout;
      while (sessions.size > 0 && clock() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const l of listeners) l.destroyAll();
      clearInterval(evictTimer);
      pools.closeAll();
      await discovery.stop();
      log.info({ event: 'stopped' }, 'pgroute stopped');
    })();
    return stopping;
  };

  return {
    config,
    listeners,
    discovery,
    pools,
    router,
    sessions,
    stats,
    classifier,
    startedAt: clock(),
    portOf: (mode) => {
      const l = listeners.find((x) => x.options.mode === mode);
      if (!l) throw new Error(`no listener with mode ${mode}`);
      return l.port;
    },
    stop,
  };
}
