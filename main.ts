// Composition root: builds every part from the config, wires them together, reloads, and stops them in order.

import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { Discovery } from './discovery/discovery.js';
import type { EndpointSource } from './discovery/endpoint-source.js';
import { kubernetesSourceFromConfig } from './discovery/kubernetes/from-config.js';
import { type CredentialSourceFactory, SecretUsers } from './discovery/kubernetes/secret-users.js';
import { StaticSource } from './discovery/static-source.js';
import { createLogger } from './logger.js';
import { startOpsServer } from './metrics/ops-server.js';
import { AdminSession } from './proxy/admin/admin-session.js';
import { buildUserDirectory } from './proxy/auth/user-directory.js';
import { type Cancellable, CancelRegistry } from './proxy/cancel-registry.js';
import type { ClientSession, SessionDeps } from './proxy/client-session.js';
import { ProxyError, SqlState } from './proxy/errors.js';
import { FailoverTracker } from './proxy/failover-tracker.js';
import { FunctionCatalogs } from './proxy/function-catalogs.js';
import { Listener, type ListenerMode } from './proxy/listener.js';
import { ServerConnectError } from './proxy/server/connect-options.js';
import { PoolRegistry } from './proxy/server/pool-registry.js';
import { ServerConnection } from './proxy/server/server-connection.js';
import type { StatementClassifier } from './proxy/session-types.js';
import { ProxyStats } from './proxy/stats.js';
import { TlsContext } from './proxy/tls-context.js';
import { TopologyRouter } from './proxy/topology-router.js';
import { TurnBatcher } from './proxy/turn-batcher.js';
import { diffConfig } from './reload-keys.js';
import { Classifier } from './router/classify.js';
import type { PolicyOptions } from './router/policy.js';

export interface RunningProxy {
  /** The configuration in force (replaced by a reload). */
  readonly config: Readonly<Config>;
  readonly listeners: readonly Listener[];
  readonly discovery: Discovery;
  readonly pools: PoolRegistry;
  readonly router: TopologyRouter;
  readonly sessions: ReadonlySet<ClientSession>;
  readonly stats: ProxyStats;
  readonly classifier: StatementClassifier & { cacheHits?: number; cacheMisses?: number };
  readonly startedAt: number;
  /** The event loop's load, and whether replies are written once per loop turn. */
  readonly turns: TurnBatcher;
  /** Port of the HTTP endpoints, when configured. */
  readonly httpPort: number | null;
  /** Port of the listener with this mode (the first one), for tests and the demo. */
  portOf(mode: ListenerMode): number;
  /** Apply a new configuration without dropping clients; resolves with what changed. */
  reload(next?: Readonly<Config>): Promise<string>;
  /** Graceful: stop accepting, let transactions finish (up to shutdown.timeout), close. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  clock?: () => number;
  /** Endpoint sources built by the caller (tests); replaces the Kubernetes source from the config. */
  sources?: EndpointSource[];
  /** Statement classifier; by default the libpg-query one. */
  classifier?: StatementClassifier;
  /** Where RELOAD and SIGHUP read the new configuration from. */
  loadConfig?: () => Readonly<Config>;
  /** Source of the `users[].secret` credentials (tests); by default the Kubernetes API watched. */
  secretCredentials?: CredentialSourceFactory;
  /** When replies are batched per event-loop turn; by default from the loop's load (tests: always). */
  turnBatcher?: TurnBatcher;
}

function poolOptionsOf(c: Readonly<Config>) {
  return {
    size: c.pool.size,
    queueTimeoutMs: c.pool.queueTimeout,
    maxWaiting: c.pool.maxWaiting,
    idleTimeoutMs: c.pool.idleTimeout,
    maxLifetimeMs: c.pool.maxLifetime,
  };
}

export async function startPgroute(
  initial: Readonly<Config>,
  opts: StartOptions = {},
): Promise<RunningProxy> {
  let config = initial;
  const log = opts.log ?? createLogger(config);
  const clock = opts.clock ?? Date.now;
  const secretUsers = await SecretUsers.start(config, {
    log: log.child({ component: 'credentials' }),
    factory: opts.secretCredentials,
  });
  const withSecrets = secretUsers.apply(config);
  let users = buildUserDirectory(withSecrets);
  // New logins and new server connections use a rotated password; connected clients stay.
  secretUsers.onRotate(() => {
    users = buildUserDirectory(secretUsers.apply(config), users);
  });
  const stats = new ProxyStats();
  const firstWithPassword = withSecrets.users.find((u) => u.password !== null);

  const sources: EndpointSource[] = [...(opts.sources ?? [])];
  const discoveryLog = log.child({ component: 'discovery' });
  // Without this an API outage, a 403 from RBAC or a TLS mistake would only show as an empty topology.
  if (config.cluster.kubernetes && !opts.sources)
    sources.push(
      kubernetesSourceFromConfig(config.cluster.kubernetes, process.env, (error, retryInMs, resource) =>
        discoveryLog.warn(
          { event: 'kubernetes-error', resource, retryInMs, error: error.message },
          `Kubernetes ${resource}: ${error.message}; retrying in ${retryInMs} ms`,
        ),
      ),
    );
  const staticSource =
    config.cluster.hosts.length > 0 ? new StaticSource({ hosts: config.cluster.hosts }) : null;
  if (staticSource) sources.push(staticSource);
  const probeUser = config.cluster.probe.user ?? firstWithPassword?.name ?? withSecrets.users[0]!.name ?? '';
  const discovery = new Discovery({
    sources,
    probe: {
      user: probeUser,
      // Read at each probe connect: passwords from Kubernetes Secrets rotate.
      password: () =>
        config.cluster.probe.password ?? users.get(probeUser)?.password ?? firstWithPassword?.password ?? '',
      database: config.cluster.probe.database,
      intervalMs: config.cluster.probe.interval,
      connectTimeoutMs: config.cluster.probe.timeout,
      queryTimeoutMs: config.cluster.probe.timeout,
    },
    now: clock,
    logger: discoveryLog,
  });

  const ca = config.server.sslrootcert ? readFileSync(config.server.sslrootcert) : undefined;
  const serverLog = log.child({ component: 'server' });
  const pools = new PoolRegistry(
    poolOptionsOf(config),
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
      ).then(
        (conn) => {
          serverLog.debug(
            {
              event: 'server-connected',
              server: conn.id,
              instance: key.instanceId,
              user: key.user,
              database: key.database,
              mechanism: conn.saslMechanism,
            },
            'server connection opened',
          );
          return conn;
        },
        (err: unknown) => {
          serverLog.warn(
            {
              event: 'server-connect-failed',
              instance: key.instanceId,
              user: key.user,
              database: key.database,
              code: (err as { code?: string }).code,
            },
            (err as Error).message,
          );
          // A data connection that cannot be opened marks the instance suspect at once (and probes it).
          if (err instanceof ServerConnectError && (!err.sqlState || err.sqlState.startsWith('57P'))) {
            discovery.reportFailure(key.instanceId, err.message);
          }
          throw err;
        },
      ),
    clock,
  );

  let failovers: FailoverTracker | null = null;
  let policyFor: Readonly<Config> | null = null;
  let policyOptions: PolicyOptions | null = null;
  const router = new TopologyRouter(
    discovery,
    pools,
    {
      // One object per configuration, so the router can memoise per (snapshot, options).
      policy: () => {
        if (policyFor !== config) {
          policyFor = config;
          policyOptions = {
            fallbackToPrimary: config.routing.fallbackToPrimary,
            maxLagBytes: config.routing.maxLagBytes,
            maxLagSeconds: config.routing.maxLagSeconds,
            weights: config.routing.weights,
          };
        }
        return policyOptions!;
      },
      primaryWaitTimeoutMs: () => config.routing.primaryWaitTimeout,
      maxHeld: config.pool.maxWaiting,
    },
    {
      onRouted: (listener, d) => {
        stats.countRouted(listener, d.role, d.instanceId, d.reason);
        if (d.role === 'primary') failovers?.onPrimaryRouted(d.instanceId);
      },
      onHeld: () => {},
    },
  );
  failovers = new FailoverTracker(stats, clock, () => router.paused);

  // Instances that leave the topology take their pools with them; failed ones lose their idle connections.
  discovery.onChange((next, prev) => {
    failovers?.onTopology(next);
    const present = new Set(next.instances.map((i) => i.id));
    for (const i of prev.instances) if (!present.has(i.id)) pools.retire(i.id);
    for (const i of next.instances) if (i.health === 'down') pools.dropIdle(i.id);
  });

  let clearClassifierCache = (): void => {};
  const catalogs = new FunctionCatalogs(
    discovery,
    (user) => users.get(user)?.password ?? null,
    () => clearClassifierCache(),
    log.child({ component: 'catalog' }),
  );
  const builtClassifier = opts.classifier
    ? null
    : await Classifier.create({
        cacheSize: 10_000,
        readFunctions: config.routing.readFunctions,
        writeFunctions: config.routing.writeFunctions,
        isWriteFunction: catalogs.isWriteFunction,
      });
  if (builtClassifier) clearClassifierCache = () => builtClassifier.clearCache();
  const classifier: StatementClassifier & { cacheHits?: number; cacheMisses?: number } =
    opts.classifier ?? builtClassifier!;

  let tlsContext: TlsContext | null = null;
  const loadTls = (c: Readonly<Config>): void => {
    tlsContext = c.tls
      ? TlsContext.load({ certFile: c.tls.cert, keyFile: c.tls.key, log: log.child({ component: 'tls' }) })
      : null;
  };
  loadTls(config);

  const cancels = new CancelRegistry<Cancellable>();
  const sessions = new Set<ClientSession>();
  const accepted = new LRUCache<string, true>({ max: 50_000 });
  const knownStatements = {
    has: (n: string) => accepted.has(n),
    add: (n: string) => void accepted.set(n, true),
  };
  const turns = opts.turnBatcher ?? new TurnBatcher();
  let nextClientId = 1;
  const sessionDeps = (
    mode: ListenerMode,
    name: string,
    own: Pick<SessionDeps, 'log' | 'onClosed'>,
  ): SessionDeps => ({
    clock,
    poolMode: config.pool.mode,
    classifier,
    router: router.forMode(mode, name),
    maxMessageSize: config.limits.maxMessageSize,
    maxPreparedStatements: config.limits.maxPreparedStatements,
    maxPendingBytes: config.limits.maxPendingBytes,
    knownStatements,
    turns,
    stats,
    monotonic: () => performance.now(),
    readYourWrites: config.routing.readYourWrites && mode === 'auto',
    logStatements: config.log.statements,
    onServerFailure: (instanceId, reason) => discovery.reportFailure(instanceId, reason),
    onDdl: () => catalogs.invalidate(),
    log: own.log,
    onClosed: own.onClosed,
  });

  let running: RunningProxy | null = null;
  const startAdmin = (socket: net.Socket, user: string, rest: Buffer): void => {
    if (!config.admin.users.includes(user) || !running) {
      socket.end(
        new ProxyError(
          'NOT_ADMIN',
          SqlState.InvalidAuthorizationSpecification,
          `user "${user}" may not use the pgroute admin console`,
          'FATAL',
        ).toMessage(),
      );
      return;
    }
    const source = running;
    new AdminSession(socket, user, {
      source,
      config,
      pause: () => router.pause(),
      resume: () => router.resume(),
      reload: () => source.reload(),
      log: log.child({ component: 'admin', user }),
    }).start(rest);
  };

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
            tlsContext ? { context: tlsContext.current(), isRequired: config.tls?.mode === 'require' } : null,
          sessionDeps,
          cancels,
          clientCount: () => sessions.size,
          onSession: (s, isOpen) => {
            if (!isOpen) {
              sessions.delete(s);
              return;
            }
            sessions.add(s);
            catalogs.track(s.user, s.database);
          },
          nextClientId: () => nextClientId++,
          onAuthFailure: () => stats.authFailures++,
          startAdmin,
        },
      ),
  );

  await discovery.start();
  for (const l of listeners) await l.listen();
  const evictTimer = setInterval(() => pools.evict(), 5_000);
  evictTimer.unref();

  /** Apply what can change at run time; listeners and discovery sources other than hosts need a restart. */
  const reload = async (next?: Readonly<Config>): Promise<string> => {
    const fresh = next ?? opts.loadConfig?.();
    if (!fresh) throw new Error('no configuration source to reload from');
    const { changed, needsRestart } = diffConfig(config, fresh);
    users = buildUserDirectory(secretUsers.apply(fresh), users);
    loadTls(fresh);
    config = fresh;
    pools.reconfigure(poolOptionsOf(fresh));
    log.level = fresh.log.level;
    staticSource?.update(fresh.cluster.hosts);
    const message =
      `reloaded: ${changed.length > 0 ? changed.join(', ') : 'no change'}` +
      (needsRestart.length > 0 ? `; needs a restart to apply: ${needsRestart.join(', ')}` : '');
    log.info({ event: 'reload', changed, needsRestart }, message);
    return message;
  };

  let isStopping = false;
  const proxy: RunningProxy = {
    get config() {
      return config;
    },
    listeners,
    discovery,
    pools,
    router,
    sessions,
    stats,
    classifier,
    startedAt: clock(),
    turns,
    httpPort: null,
    portOf: (mode) => {
      const l = listeners.find((x) => x.options.mode === mode);
      if (!l) throw new Error(`no listener with mode ${mode}`);
      return l.port;
    },
    reload,
    stop: () => stop(),
  };
  running = proxy;

  const ops = config.http
    ? await startOpsServer(proxy, {
        host: config.http.host,
        port: config.http.port,
        log: log.child({ component: 'http' }),
        isReady: () => !isStopping,
        lagLimits: () => ({
          maxLagBytes: config.routing.maxLagBytes,
          maxLagSeconds: config.routing.maxLagSeconds,
        }),
      })
    : null;
  (proxy as { httpPort: number | null }).httpPort = ops?.port ?? null;

  log.info(
    {
      event: 'started',
      listeners: listeners.map((l) => l.name),
      instances: config.cluster.hosts,
      http: ops?.port ?? null,
    },
    'pgroute started',
  );

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      isStopping = true;
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
      catalogs.stop();
      pools.closeAll();
      await discovery.stop();
      await secretUsers.stop();
      await ops?.close();
      log.info({ event: 'stopped' }, 'pgroute stopped');
    })();
    return stopping;
  };
  return proxy;
}
