// The registry's index: one pool per (instance, user, database), found again for repeated and
// alternating requests, and a fresh one after its instance was retired.
import { describe, expect, it } from 'vitest';
import type { PoolOptions } from '../../proxy/server/pool.js';
import { PoolRegistry } from '../../proxy/server/pool-registry.js';

const OPTIONS: PoolOptions = {
  size: 2,
  queueTimeoutMs: 1000,
  maxWaiting: 3,
  idleTimeoutMs: 60_000,
  maxLifetimeMs: 3_600_000,
};

const registry = (): PoolRegistry =>
  new PoolRegistry(OPTIONS, () => Promise.reject(new Error('no server in this test')), Date.now);

describe('PoolRegistry', () => {
  it('returns the same pool for the same instance, user and database, repeated or interleaved', () => {
    const pools = registry();
    const a = pools.get('a:1', 'a', 1, 'app', 'app');
    expect(pools.get('a:1', 'a', 1, 'app', 'app')).toBe(a);
    const b = pools.get('b:1', 'b', 1, 'app', 'app');
    const otherUser = pools.get('a:1', 'a', 1, 'admin', 'app');
    const otherDb = pools.get('a:1', 'a', 1, 'app', 'other');
    expect(new Set([a, b, otherUser, otherDb]).size).toBe(4);
    expect(pools.get('a:1', 'a', 1, 'app', 'app')).toBe(a);
    expect(pools.get('b:1', 'b', 1, 'app', 'app')).toBe(b);
    // Names built afresh are the same key.
    expect(pools.get(['a', '1'].join(':'), 'a', 1, 'ad'.concat('min'), 'app')).toBe(otherUser);
    expect(pools.all()).toHaveLength(4);
  });

  it('hands out a new pool once the instance was retired, even right after using the old one', async () => {
    const pools = registry();
    const old = pools.get('a:1', 'a', 1, 'app', 'app');
    pools.retire('a:1');
    const fresh = pools.get('a:1', 'a', 1, 'app', 'app');
    expect(fresh).not.toBe(old);
    // The retired pool is closed: it refuses new waits.
    await expect(old.acquire()).rejects.toMatchObject({ code: 'POOL_CLOSED' });
    expect(pools.all()).toEqual([fresh]);
  });
});
