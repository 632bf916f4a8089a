// Owns every pool, keyed by (instance, user, database); creates them on demand and retires them with their instance.

import { Pool, type PoolKey, type PoolOptions } from './pool.js';
import type { ServerConnection } from './server-connection.js';

export class PoolRegistry {
  /** instance -> user -> database -> pool: the one index of every pool. */
  private readonly index = new Map<string, Map<string, Map<string, Pool>>>();
  /** The pool found last: consecutive requests mostly want the same one (three string compares). */
  private last: Pool | null = null;

  constructor(
    private options: PoolOptions,
    private readonly connect: (key: PoolKey) => Promise<ServerConnection>,
    private readonly clock: () => number,
  ) {}

  get(instanceId: string, host: string, port: number, user: string, database: string): Pool {
    const last = this.last;
    if (
      last !== null &&
      last.key.instanceId === instanceId &&
      last.key.user === user &&
      last.key.database === database
    )
      return last;
    this.last = this.lookup(instanceId, host, port, user, database);
    return this.last;
  }

  private lookup(instanceId: string, host: string, port: number, user: string, database: string): Pool {
    // Nested lookups on strings that already exist: no key is built per request (the hot path).
    let byUser = this.index.get(instanceId);
    if (!byUser) {
      byUser = new Map();
      this.index.set(instanceId, byUser);
    }
    let byDatabase = byUser.get(user);
    if (!byDatabase) {
      byDatabase = new Map();
      byUser.set(user, byDatabase);
    }
    const found = byDatabase.get(database);
    if (found) return found;
    const pool = new Pool({ instanceId, host, port, user, database }, this.options, this.connect, this.clock);
    byDatabase.set(database, pool);
    return pool;
  }

  all(): Pool[] {
    const out: Pool[] = [];
    for (const instanceId of this.index.keys()) out.push(...this.poolsOf(instanceId));
    return out;
  }

  reconfigure(options: PoolOptions): void {
    this.options = options;
    for (const p of this.all()) p.reconfigure(options);
  }

  /** The instance left the topology: close its idle connections now, the rest as they are released. */
  retire(instanceId: string): void {
    for (const pool of this.poolsOf(instanceId)) pool.close();
    this.index.delete(instanceId);
    if (this.last?.key.instanceId === instanceId) this.last = null;
  }

  /** The instance is unreachable: drop idle connections, which are dead or soon will be. */
  dropIdle(instanceId: string): void {
    for (const pool of this.poolsOf(instanceId)) pool.evictAll();
  }

  evict(): void {
    for (const p of this.all()) p.evict();
  }

  closeAll(): void {
    for (const p of this.all()) p.close();
  }

  private *poolsOf(instanceId: string): Iterable<Pool> {
    for (const byDatabase of this.index.get(instanceId)?.values() ?? []) yield* byDatabase.values();
  }
}
