// The contracts a client session is built with: its states, its router, its dependencies.

import type { Logger } from 'pino';
import type { ClientSession } from './client-session.js';
import type { Pool } from './server/pool.js';
import type { StatementClassifier, StatementInfo } from './session-types.js';
import type { ProxyStats } from './stats.js';
import type { TurnBatcher } from './turn-batcher.js';

/** PgBouncer's client states: CL_ACTIVE with or without a server, CL_WAITING while one is found. */
export type ClientState = 'login' | 'idle' | 'waiting' | 'active' | 'closed';

export type PoolMode = 'transaction' | 'session';

export interface RouteRequest {
  kind: 'login' | 'batch';
  statements: readonly StatementInfo[];
  session: ClientSession;
}

export interface SessionRouter {
  route(req: RouteRequest): Pool | Promise<Pool>;
  /** Whether the topology has any standby at all, healthy or not (read-your-writes needs LSNs only then). */
  knowsStandby(): boolean;
}

export interface SessionDeps {
  clock: () => number;
  poolMode: PoolMode;
  classifier: StatementClassifier;
  router: SessionRouter;
  log: Logger;
  maxMessageSize: number;
  maxPreparedStatements: number;
  /** Bytes of requests a client may send ahead while it waits for a server. */
  maxPendingBytes: number;
  stats: ProxyStats;
  /** log.statements: the SQL text of each Query and Parse at info level; bound values never. */
  logStatements: boolean;
  /** Learn the primary's WAL position after each write so later reads avoid stale standbys. */
  readYourWrites: boolean;
  /** Monotonic milliseconds with sub-millisecond precision (performance.now), for durations. */
  monotonic: () => number;
  /** Server-side names of statements some server has accepted (shared by all sessions, bounded). */
  knownStatements: { has(name: string): boolean; add(name: string): void };
  /** The event loop's load: replies to clients go out at once, or once per loop turn when busy. */
  turns: TurnBatcher;
  onClosed(session: ClientSession): void;
  /** A statement changed the schema: cached knowledge of functions may be stale. */
  onDdl(): void;
  /** A data connection failed: the topology should look at that instance now. */
  onServerFailure(instanceId: string, reason: string): void;
}
