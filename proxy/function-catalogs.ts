// Keeps one volatile-function catalog per application database, loaded from the primary, for the classifier.

import pg from 'pg';
import type { TopologyView } from '../discovery/topology-view.js';
import { FunctionCatalog } from '../router/function-catalog.js';
import { writablePrimary } from '../router/policy.js';

export interface CatalogLog {
  warn(fields: object, message: string): void;
}

/**
 * User functions live per database, so the first client of each (user, database) starts a load with
 * that user's credentials; a function is a write if any database's catalog says so. Loads run off
 * the client's path: until the first one completes, user functions count as reads (as documented).
 */
export class FunctionCatalogs {
  private readonly catalogs = new Map<string, FunctionCatalog>();
  private readonly timer: NodeJS.Timeout;
  /**
   * Set by stop(): the instances may be going away with the proxy (the demo stops its cluster right
   * after), so a load still in flight fails for a reason that is no news to anyone.
   */
  private isStopped = false;

  constructor(
    private readonly topology: TopologyView,
    private readonly passwordOf: (user: string) => string | null,
    private readonly onChange: () => void,
    private readonly log: CatalogLog,
    refreshEveryMs = 60_000,
  ) {
    this.timer = setInterval(() => this.refreshAll(), refreshEveryMs);
    this.timer.unref();
  }

  readonly isWriteFunction = (qualifiedName: string): boolean | undefined => {
    let answer: boolean | undefined;
    for (const c of this.catalogs.values()) {
      const r = c.isWriteFunction(qualifiedName);
      if (r === true) return true;
      if (r === false) answer = false;
    }
    return answer;
  };

  /** A client of this database arrived: make sure its functions are known. */
  track(user: string, database: string): void {
    if (this.isStopped || this.catalogs.has(database)) return;
    const catalog = new FunctionCatalog({
      query: (sql) => this.queryPrimary(user, database, sql),
      onChange: this.onChange,
      onError: (err) => this.warnFailed(database, err),
    });
    this.catalogs.set(database, catalog);
    catalog.refresh().catch((err: unknown) => this.warnFailed(database, err as Error));
  }

  /** DDL ran somewhere: functions may have been created, dropped or altered. */
  invalidate(): void {
    if (this.isStopped) return;
    for (const c of this.catalogs.values()) void c.invalidate();
  }

  /** No more loads; one still running may fail without a warning. */
  stop(): void {
    this.isStopped = true;
    clearInterval(this.timer);
  }

  private warnFailed(database: string, err: Error): void {
    if (!this.isStopped) this.log.warn({ event: 'function-catalog-failed', database }, err.message);
  }

  private refreshAll(): void {
    for (const c of this.catalogs.values()) c.refresh().catch(() => undefined);
  }

  private async queryPrimary(
    user: string,
    database: string,
    sql: string,
  ): Promise<ReadonlyArray<Record<string, unknown>>> {
    const p = writablePrimary(this.topology.current());
    if (!p) throw new Error('no writable primary to read pg_proc from');
    const client = new pg.Client({
      host: p.host,
      port: p.port,
      user,
      password: this.passwordOf(user) ?? undefined,
      database,
      connectionTimeoutMillis: 2000,
      application_name: 'pgroute-catalog',
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
