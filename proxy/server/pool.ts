// A pool of server connections for one (instance, user, database): size limit, FIFO wait queue, idle/lifetime eviction.

import { ProxyError, SqlState } from '../errors.js';
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

interface Waiter {
  resolve: (c: ServerConnection) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
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
  private readonly active = new Set<ServerConnection>();
  private connecting = 0;
  private readonly waiters: Waiter[] = [];
  private isClosed = false;
  /** ParameterStatus values of the last connection that logged in, for answering client logins. */
  totalWaitMs = 0;
  totalAcquired = 0;

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
    this.dispatch();
  }

  stats(): PoolStats {
    const now = this.clock();
    const first = this.waiters[0];
    return {
      active: this.active.size,
      idle: this.idle.length,
      connecting: this.connecting,
      waiting: this.waiters.length,
      maxWaitMs: first ? now - first.since : 0,
    };
  }

  get size(): number {
    return this.active.size + this.idle.length + this.connecting;
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
      this.active.add(conn);
      this.totalAcquired++;
      return conn;
    }
    return null;
  }

  acquire(): Promise<ServerConnection> {
    if (this.isClosed) return Promise.reject(poolClosed(this.id));
    const conn = this.tryAcquire();
    if (conn) return Promise.resolve(conn);
    if (this.size < this.options.size) return this.openFor();
    if (this.waiters.length >= this.options.maxWaiting) {
      return Promise.reject(
        new ProxyError(
          'POOL_QUEUE_FULL',
          SqlState.TooManyConnections,
          `pgroute: too many clients waiting for a server connection to ${this.key.instanceId}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const since = this.clock();
      const waiter: Waiter = {
        resolve,
        reject,
        since,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(
            new ProxyError(
              'POOL_TIMEOUT',
              SqlState.TooManyConnections,
              `pgroute: no server connection to ${this.key.instanceId} became free within ${this.options.queueTimeoutMs} ms`,
            ),
          );
        }, this.options.queueTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Abandon a wait (the client left or cancelled). */
  cancelWaits(reject: (e: Error) => void, err: Error): void {
    const i = this.waiters.findIndex((w) => w.reject === reject);
    if (i < 0) return;
    const [w] = this.waiters.splice(i, 1);
    clearTimeout(w!.timer);
    w!.reject(err);
  }

  /** Give a connection back. Dirty or broken ones are closed; the next waiter gets a replacement. */
  release(conn: ServerConnection): void {
    this.active.delete(conn);
    const now = this.clock();
    const isReusable =
      conn.isClean &&
      !this.isClosed &&
      now - conn.createdAt <= this.options.maxLifetimeMs &&
      this.size < this.options.size;
    if (!isReusable) {
      if (conn.state !== 'closed') conn.isClean ? conn.close() : conn.destroy();
      this.dispatch();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      this.totalWaitMs += now - w.since;
      this.active.add(conn);
      this.totalAcquired++;
      w.resolve(conn);
      return;
    }
    conn.onIdleClosed = (c) => this.forget(c);
    this.idle.push(conn);
  }

  /** A connection died or was discarded by its user. */
  forget(conn: ServerConnection): void {
    this.active.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
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
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** Destroy everything, active connections included (the instance is gone). */
  destroyAll(): void {
    this.close();
    for (const c of this.active) c.destroy();
    this.active.clear();
  }

  private dispatch(): void {
    while (this.waiters.length > 0 && this.size < this.options.size && !this.isClosed) {
      const w = this.waiters.shift()!;
      clearTimeout(w.timer);
      this.openFor().then(w.resolve, w.reject);
    }
  }

  private openFor(): Promise<ServerConnection> {
    this.connecting++;
    return this.connect(this.key).then(
      (conn) => {
        this.connecting--;
        if (this.isClosed) {
          conn.close();
          throw poolClosed(this.id);
        }
        this.active.add(conn);
        this.totalAcquired++;
        return conn;
      },
      (err: unknown) => {
        this.connecting--;
        this.dispatch();
        throw err;
      },
    );
  }
}

function poolClosed(id: string): ProxyError {
  return new ProxyError('POOL_CLOSED', SqlState.CannotConnectNow, `pgroute: pool ${id} is closed`);
}
