// Which configuration keys a reload applies at once and which need a restart, and what a new configuration changes.

import type { Config } from './config.js';

/** Configuration parts a reload applies at once (new clients and connections see them). */
export const LIVE_KEYS = [
  'users',
  'pool',
  'routing.fallbackToPrimary',
  'routing.maxLagBytes',
  'routing.maxLagSeconds',
  'routing.readYourWrites',
  'routing.primaryWaitTimeout',
  'routing.weights',
  'cluster.hosts',
  'tls',
  'admin',
  'server.sslmode',
  'limits.maxMessageSize',
  'limits.maxPreparedStatements',
  'limits.maxPendingBytes',
  'log.level',
  'log.statements',
  'shutdown',
];

/** Parts read once at start: a reload reports them, a restart applies them. */
export const RESTART_KEYS = [
  'listen',
  'http',
  'cluster.kubernetes',
  'cluster.probe',
  'server.sslrootcert',
  'routing.readFunctions',
  'routing.writeFunctions',
  'limits.maxClients',
  'limits.authTimeout',
  'log.format',
];

/** What differs between two configurations, split by how it takes effect. */
export function diffConfig(
  current: Readonly<Config>,
  fresh: Readonly<Config>,
): { changed: string[]; needsRestart: string[] } {
  const differs = (path: string): boolean =>
    JSON.stringify(pick(fresh, path)) !== JSON.stringify(pick(current, path));
  return { changed: LIVE_KEYS.filter(differs), needsRestart: RESTART_KEYS.filter(differs) };
}

function pick(c: Readonly<Config>, path: string): unknown {
  let v: unknown = c;
  for (const k of path.split('.'))
    v = v === undefined || v === null ? undefined : (v as Record<string, unknown>)[k];
  return v;
}
