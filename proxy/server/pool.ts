// A pool of server connections for one (instance, user, database): size limit, FIFO wait queue, idle/lifetime eviction.

import { ProxyError, SqlState } from '../errors.js';
import { LoginParams } from './login-params.js';
import type { ServerConnection } from './server-connection.js';

export interface PoolOptions {
  size: number;
  /** Longest a client waits for a connection before it gets an error. */
  queueTimeoutMs: number;
  /** Most clients that may wait at once; past it, new requests fail at once. */
  maxWaiting: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
}

export interface PoolKey {
  instanceId: string;
  host: string;
  port: number;
  user: string;
  database: string;
}

/**
 * Someone waiting for a connection. Callbacks instead of a Promise: a busy pool hands out a connection
 * per transaction, and the callback path costs no promise, closure or timer per wait.
 */
export interface PoolWaiter {
  onAcquired(conn: ServerConnection): void;
  onFailed(err: Error): void;
}

interface Waiting {
  waiter: PoolWaiter;
  since: number;
}

export interface PoolStats {
  active: number;
  idle: number;
  connecting: number;
  waiting: number;
  maxWaitMs: number;
}

export class Pool {
  private readonly idle: ServerConnection[] = [];
  /** Lent out. An array, not a Set: every transaction adds and removes one (see removeActive). */
  private readonly active: ServerConnection[] = [];
  private connecting = 0;
  /** FIFO, so the head is always the one that times out first. */
  private readonly waiters: Waiting[] = [];
  /** One timer for the whole queue (PgBouncer checks query_wait_timeout from its janitor the same way). */
  private expiry: NodeJS.Timeout | null = null;
  private isClosed = false;
  /** Time waiters spent in the queue before a released connection reached them, and connections handed out. */
  totalWaitMs = 0;
  totalAcquired = 0;
  /** What logins to this (instance, user, database) were told, by startup settings. */
  readonly loginParams = new LoginParams();

  constructor(
    readonly key: PoolKey,
    private options: PoolOptions,
    private readonly connect: (key: PoolKey) => Promise<ServerConnection>,
    private readonly clock: () => number,
  ) {}

  get id(): string {
    return `${this.key.user}@${this.key.database}/${this.key.instanceId}`;
  }

  reconfigure(options: PoolOptions): void {
    this.options = options;
    // The queue timeout may have changed: time the head of the queue again.
    this.disarmExpiry();
    this.armExpiry();
    this.dispatch();
  }

  stats(): PoolStats {
    const now = this.clock();
    const first = this.waiters[0];
    return {
      active: this.active.length,
      idle: this.idle.length,
      connecting: this.connecting,
      waiting: this.waiters.length,
      maxWaitMs: first ? now - first.since : 0,
    };
  }

  get size(): number {
    return this.active.length + this.idle.length + this.connecting;
  }

  /** Every open connection, idle and active (admin console, metrics). */
  *connections(): Iterable<ServerConnection> {
    yield* this.active;
    yield* this.idle;
  }

  /** Take an idle connection at once, without waiting: the hot path. */
  tryAcquire(): ServerConnection | null {
    const now = this.clock();
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.isBroken || conn.state === 'closed' || now - conn.createdAt > this.options.maxLifetimeMs) {
        conn.destroy();
        continue;
      }
      this.active.push(conn);
      this.totalAcquired++;
      return conn;
    }
    return null;
  }

  acquire(): Promise<ServerConnection> {
    return new Promise((resolve, reject) => {
      const conn = this.acquireFor({ onAcquired: resolve, onFailed: reject });
      if (conn) resolve(conn);
    });
  }

  /**
   * An idle connection at once (returned), or later through the waiter's callbacks: a new connection
   * when the pool has room, else the next one released. Failures are reported asynchronously, never
   * from inside this call.
   */
  acquireFor(waiter: PoolWaiter): ServerConnection | null {
    if (this.isClosed) {
      failSoon(waiter, poolClosed(this.id));
      return null;
    }
    const conn = this.tryAcquire();
    if (conn) return conn;
    if (this.size < this.options.size) {
      this.openFor(waiter);
      return null;
    }
    if (this.waiters.length >= this.options.maxWaiting) {
      failSoon(
        waiter,
        new ProxyError(
          'POOL_QUEUE_FULL',
          SqlState.TooManyConnections,
          `pgroute: too many clients waiting for a server connection to ${this.key.instanceId}`,
        ),
      );
      return null;
    }
    this.waiters.push({ waiter, since: this.clock() });
    this.armExpiry();
    return null;
  }

  /**
   * The waiter gave up (its client left or cancelled): it must not be handed a connection later.
   * Returns false when it was not in the queue (it may be getting a new connection: see acquireFor).
   */
  cancelWait(waiter: PoolWaiter): boolean {
    const i = this.waiters.findIndex((w) => w.waiter === waiter);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    return true;
  }

  /** Give a connection back. Dirty or broken ones are closed; the next waiter gets a replacement. */
  release(conn: ServerConnection): void {
    const now = this.clock();
    const isReusable =
      conn.isClean &&
      !this.isClosed &&
      now - conn.createdAt <= this.options.maxLifetimeMs &&
      // Counted without this connection (a reload may have shrunk the pool).
      this.size - 1 < this.options.size;
    if (!isReusable) {
      this.removeActive(conn);
      if (conn.state !== 'closed') conn.isClean ? conn.close() : conn.destroy();
      this.dispatch();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      // Handed straight over: it stays lent.
      this.totalWaitMs += now - w.since;
      this.totalAcquired++;
      w.waiter.onAcquired(conn);
      return;
    }
    this.removeActive(conn);
    conn.onIdleClosed = this.forgetClosed;
    this.idle.push(conn);
  }

  /** Given to idle connections: one function for the pool's lifetime, not one per release. */
  private readonly forgetClosed = (conn: ServerConnection): void => this.forget(conn);

  /** A connection died or was discarded by its user. */
  forget(conn: ServerConnection): void {
    if (!this.removeActive(conn)) {
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
    }
    conn.destroy();
    this.dispatch();
  }

  /** Close idle connections past their idle timeout or lifetime. */
  evict(): void {
    const now = this.clock();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (
        now - c.lastUsedAt > this.options.idleTimeoutMs ||
        now - c.createdAt > this.options.maxLifetimeMs ||
        c.isBroken
      ) {
        this.idle.splice(i, 1);
        c.close();
      }
    }
  }

  /** Close every idle connection (its instance failed). */
  evictAll(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }

  /** Close idle connections now; active ones close when released. Waiters fail. */
  close(err: Error = poolClosed(this.id)): void {
    this.isClosed = true;
    for (const c of this.idle.splice(0)) c.close();
    this.disarmExpiry();
    for (const w of this.waiters.splice(0)) w.waiter.onFailed(err);
  }

  /** Destroy everything, active connections included (the instance is gone). */
  destroyAll(): void {
    this.close();
    for (const c of this.active.splice(0)) c.destroy();
  }

  /**
   * Order does not matter: the last one takes the freed slot. A scan of at most pool.size entries
   * costs less than a Set, whose add and delete on every transaction also rehash its table.
   */
  private removeActive(conn: ServerConnection): boolean {
    const i = this.active.indexOf(conn);
    if (i < 0) return false;
    const last = this.active.pop()!;
    if (last !== conn) this.active[i] = last;
    return true;
  }

  private dispatch(): void {
    while (this.waiters.length > 0 && this.size < this.options.size && !this.isClosed) {
      this.openFor(this.waiters.shift()!.waiter);
    }
  }

  private openFor(waiter: PoolWaiter): void {
    this.connecting++;
    this.connect(this.key).then(
      (conn) => {
        this.connecting--;
        if (this.isClosed) {
          conn.close();
          waiter.onFailed(poolClosed(this.id));
          return;
        }
        this.loginParams.noteServerStartup(conn.reported.values());
        this.active.push(conn);
        this.totalAcquired++;
        waiter.onAcquired(conn);
      },
      (err: unknown) => {
        this.connecting--;
        this.dispatch();
        waiter.onFailed(err as Error);
      },
    );
  }

  private armExpiry(): void {
    const head = this.waiters[0];
    if (this.expiry || !head) return;
    const delay = Math.max(0, head.since + this.options.queueTimeoutMs - this.clock());
    this.expiry = setTimeout(() => {
      this.expiry = null;
      this.expireWaiters();
    }, delay);
  }

  private disarmExpiry(): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
  }

  private expireWaiters(): void {
    const now = this.clock();
    while (this.waiters.length > 0 && now - this.waiters[0]!.since >= this.options.queueTimeoutMs) {
      this.waiters
        .shift()!
        .waiter.onFailed(
          new ProxyError(
            'POOL_TIMEOUT',
            SqlState.TooManyConnections,
            `pgroute: no server connection to ${this.key.instanceId} became free within ${this.options.queueTimeoutMs} ms`,
          ),
        );
    }
    this.armExpiry();
  }
}

function poolClosed(id: string): ProxyError {
  return new ProxyError('POOL_CLOSED', SqlState.CannotConnectNow, `pgroute: pool ${id} is closed`);
}

function failSoon(waiter: PoolWaiter, err: Error): void {
  queueMicrotask(() => waiter.onFailed(err));
}
