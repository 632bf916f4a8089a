// Starts pgroute in-process in front of a LocalCluster, on free ports, for integration tests.

import pino from 'pino';
import { type ConfigInput, validateConfig } from '../../config.js';
import type { LocalCluster } from '../../demo/local-cluster.js';
import { type RunningProxy, type StartOptions, startPgroute } from '../../main.js';
import { TurnBatcher } from '../../proxy/turn-batcher.js';

/**
 * Both ways replies reach clients: at once (the default under a test's light load) and batched per
 * event-loop turn (what a busy proxy does). Client-facing suites run under both.
 */
export const REPLY_BATCHING = [
  { name: 'replies written at once', make: (): TurnBatcher | undefined => undefined },
  { name: 'replies batched per loop turn', make: (): TurnBatcher | undefined => new TurnBatcher(0) },
];

export interface TestProxy {
  proxy: RunningProxy;
  /** Connection URL through the listener of `mode` (default auto) as `user` (default the SCRAM user). */
  url(opts?: {
    mode?: 'auto' | 'rw' | 'ro' | 'r';
    user?: 'scram' | 'md5' | 'trust';
    password?: string;
  }): string;
  /** libpq-style connection parameters, for pg / postgres.js. */
  params(opts?: { mode?: 'auto' | 'rw' | 'ro' | 'r'; user?: 'scram' | 'md5' | 'trust' }): {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
  };
  stop(): Promise<void>;
}

export async function startTestProxy(
  cluster: LocalCluster,
  overrides: Partial<ConfigInput> = {},
  startOptions: StartOptions = {},
): Promise<TestProxy> {
  const d = cluster.descriptor;
  // `cluster` overrides merge into the defaults, so a test can swap `hosts` (e.g. [] with Kubernetes) and keep the probe.
  const { cluster: clusterOverrides, ...rest } = overrides;
  const config = validateConfig({
    listen: [
      { host: '127.0.0.1', port: 0, mode: 'auto' },
      { host: '127.0.0.1', port: 0, mode: 'rw' },
      { host: '127.0.0.1', port: 0, mode: 'ro' },
      { host: '127.0.0.1', port: 0, mode: 'r' },
    ],
    cluster: {
      hosts: d.instances.map((i) => `${i.host}:${i.port}`),
      probe: { user: d.superuser, database: 'postgres', interval: '100ms' },
      ...clusterOverrides,
    },
    users: [
      { name: d.users.scram.name, password: d.users.scram.password },
      { name: d.users.md5.name, password: d.users.md5.password, auth: 'md5' },
      { name: d.users.trust.name, auth: 'trust' },
    ],
    pool: { size: 10 },
    admin: { users: [d.users.scram.name] },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.PGROUTE_TEST_LOG ?? 'silent' },
    shutdown: { timeout: '2s' },
    ...rest,
  });
  const log = pino({ level: config.log.level });
  const proxy = await startPgroute(config, { log, ...startOptions });
  await proxy.discovery.waitFor(
    (s) => s.primaryId !== null && s.instances.every((i) => i.role !== 'unknown'),
    15_000,
  );
  const who = (u: 'scram' | 'md5' | 'trust' = 'scram') =>
    u === 'trust'
      ? { user: d.users.trust.name, password: '' }
      : { user: d.users[u].name, password: d.users[u].password };
  const params: TestProxy['params'] = (opts = {}) => ({
    host: '127.0.0.1',
    port: proxy.portOf(opts.mode ?? 'auto'),
    ...who(opts.user),
    database: d.database,
  });
  return {
    proxy,
    params,
    url: (opts = {}) => {
      const p = params(opts);
      const pw = opts.password ?? p.password;
      return `postgresql://${encodeURIComponent(p.user)}${pw ? `:${encodeURIComponent(pw)}` : ''}@${p.host}:${p.port}/${p.database}`;
    },
    stop: () => proxy.stop(),
  };
}
