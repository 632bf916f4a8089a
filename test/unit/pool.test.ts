// The pool's wait queue: FIFO hand-over, one timer for every timeout, queue limit, cancelled and late waits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PoolWait, type PoolWaitOwner } from '../../proxy/pool-wait.js';
import { Pool, type PoolOptions, type PoolWaiter } from '../../proxy/server/pool.js';
import type { ServerConnection } from '../../proxy/server/server-connection.js';

/** The fields of a server connection the pool looks at. */
function fakeConnection(id: number, serverVersion = '15.18'): ServerConnection {
  return {
    id,
    reported: new Map([['server_version', { name: 'server_version', value: serverVersion }]]),
    isBroken: false,
    state: 'idle',
    createdAt: Date.now(),
    isClean: true,
    close() {},
    destroy() {},
    onIdleClosed: null,
  } as unknown as ServerConnection;
}

const OPTIONS: PoolOptions = {
  size: 1,
  queueTimeoutMs: 1000,
  maxWaiting: 3,
  idleTimeoutMs: 60_000,
  maxLifetimeMs: 3_600_000,
};

/** Records what a waiter was told, in order. */
function recorder(): PoolWaiter & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    onAcquired: (c) => events.push(`conn ${c.id}`),
    onFailed: (e) => events.push(`error ${(e as { code?: string }).code}`),
  };
}

let nextId: number;
let pending: Array<(c: ServerConnection) => void>;
let pool: Pool;

/** A pool whose connections open only when the test says so (`open()`). */
function makePool(options: Partial<PoolOptions> = {}): Pool {
  return new Pool(
    { instanceId: 'pg0', host: '127.0.0.2', port: 5432, user: 'app', database: 'app' },
    { ...OPTIONS, ...options },
    () => new Promise((resolve) => pending.push(resolve)),
    () => Date.now(),
  );
}

async function open(serverVersion?: string): Promise<ServerConnection> {
  const conn = fakeConnection(nextId++, serverVersion);
  pending.shift()!(conn);
  await vi.advanceTimersByTimeAsync(0);
  return conn;
}

beforeEach(() => {
  vi.useFakeTimers();
  nextId = 1;
  pending = [];
  pool = makePool();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Pool wait queue', () => {
  it('opens a connection for the first waiter and hands released ones over in arrival order', async () => {
    const [a, b, c] = [recorder(), recorder(), recorder()];
    expect(pool.acquireFor(a)).toBeNull();
    expect(pool.acquireFor(b)).toBeNull();
    expect(pool.acquireFor(c)).toBeNull();
    const conn = await open();
    expect(a.events).toEqual(['conn 1']);
    pool.release(conn);
    expect(b.events).toEqual(['conn 1']);
    expect(c.events).toEqual([]);
    pool.release(conn);
    expect(c.events).toEqual(['conn 1']);
    expect(pool.stats()).toMatchObject({ active: 1, waiting: 0 });
  });

  it('returns an idle connection at once without calling the waiter', async () => {
    const first = recorder();
    pool.acquireFor(first);
    const conn = await open();
    pool.release(conn);
    const second = recorder();
    expect(pool.acquireFor(second)).toBe(conn);
    expect(second.events).toEqual([]);
  });

  it('times every waiter out after the queue timeout, each from its own arrival', async () => {
    pool.acquireFor(recorder());
    await open();
    const early = recorder();
    pool.acquireFor(early);
    await vi.advanceTimersByTimeAsync(400);
    const late = recorder();
    pool.acquireFor(late);
    await vi.advanceTimersByTimeAsync(600);
    expect(early.events).toEqual(['error POOL_TIMEOUT']);
    expect(late.events).toEqual([]);
    await vi.advanceTimersByTimeAsync(400);
    expect(late.events).toEqual(['error POOL_TIMEOUT']);
    expect(pool.stats().waiting).toBe(0);
  });

  it('applies a shorter queue timeout from a reload to clients already waiting', async () => {
    pool.acquireFor(recorder());
    await open();
    const w = recorder();
    pool.acquireFor(w);
    pool.reconfigure({ ...OPTIONS, queueTimeoutMs: 100 });
    await vi.advanceTimersByTimeAsync(150);
    expect(w.events).toEqual(['error POOL_TIMEOUT']);
  });

  it('refuses waiters past maxWaiting, asynchronously', async () => {
    pool.acquireFor(recorder());
    await open();
    for (let i = 0; i < OPTIONS.maxWaiting; i++) pool.acquireFor(recorder());
    const extra = recorder();
    expect(pool.acquireFor(extra)).toBeNull();
    expect(extra.events).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(extra.events).toEqual(['error POOL_QUEUE_FULL']);
  });

  it('skips a cancelled waiter when a connection frees up', async () => {
    const holder = recorder();
    pool.acquireFor(holder);
    const conn = await open();
    const [gone, next] = [recorder(), recorder()];
    pool.acquireFor(gone);
    pool.acquireFor(next);
    expect(pool.cancelWait(gone)).toBe(true);
    expect(pool.cancelWait(gone)).toBe(false);
    pool.release(conn);
    expect(gone.events).toEqual([]);
    expect(next.events).toEqual(['conn 1']);
  });

  it('fails waiters when the pool closes, and no timer fires afterwards', async () => {
    pool.acquireFor(recorder());
    await open();
    const w = recorder();
    pool.acquireFor(w);
    pool.close();
    expect(w.events).toEqual(['error POOL_CLOSED']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(w.events).toEqual(['error POOL_CLOSED']);
  });
});

describe('PoolWait', () => {
  function owner(): PoolWaitOwner & { events: string[] } {
    const events: string[] = [];
    return {
      events,
      onPoolConnection: (c) => events.push(`conn ${c.id}`),
      onPoolFailure: (e) => events.push(`error ${(e as { code?: string }).code}`),
    };
  }

  it('gives a connection that finished opening after the session stopped waiting back to the pool', async () => {
    const o = owner();
    const wait = new PoolWait(pool, o);
    expect(pool.acquireFor(wait)).toBeNull();
    wait.abandon();
    const next = recorder();
    pool.acquireFor(next);
    await open();
    expect(o.events).toEqual([]);
    expect(next.events).toEqual(['conn 1']);
  });

  it('delivers at most one answer to its session', async () => {
    pool.acquireFor(recorder());
    await open();
    const o = owner();
    const wait = new PoolWait(pool, o);
    pool.acquireFor(wait);
    await vi.advanceTimersByTimeAsync(OPTIONS.queueTimeoutMs);
    wait.onFailed(new Error('again'));
    expect(o.events).toEqual(['error POOL_TIMEOUT']);
  });
});

describe('Pool login answers', () => {
  it('forgets them when a new connection reports different startup parameters', async () => {
    pool = makePool({ size: 2 });
    pool.acquireFor(recorder());
    await open('15.18');
    pool.loginParams.remember('k', [{ name: 'server_version', value: '15.18' }], 0);
    // Same startup parameters: what logins were told still holds.
    pool.acquireFor(recorder());
    const same = await open('15.18');
    expect(pool.loginParams.get('k', null, 0)).toHaveLength(1);
    // The server came back upgraded: nothing remembered survives.
    (same as unknown as { isClean: boolean }).isClean = false;
    pool.release(same);
    pool.acquireFor(recorder());
    await open('15.19');
    expect(pool.loginParams.get('k', null, 0)).toBeUndefined();
  });
});
