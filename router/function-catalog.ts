// Knows which user functions are VOLATILE (may write), loaded from the primary's pg_proc on demand.
//
// PostgreSQL only promises that non-volatile functions do not modify the database
// (https://www.postgresql.org/docs/current/xfunc-volatility.html); CREATE FUNCTION defaults to VOLATILE,
// so an unmarked user function is routed to the primary. System schemas are skipped: built-ins are
// covered by the classifier's own deny-list (random() and now() must stay readable on standbys).

/** Runs one SQL statement on the primary and returns its rows. */
export type CatalogQuery = (sql: string) => Promise<ReadonlyArray<Record<string, unknown>>>;

export interface FunctionCatalogOptions {
  query: CatalogQuery;
  /** Called after each successful load (e.g. to clear the classifier's cache). */
  onChange?: () => void;
  /** Called when a load started by invalidate() fails; refresh() rejects instead. */
  onError?: (error: FunctionCatalogLoadError) => void;
}

export class FunctionCatalogLoadError extends Error {
  readonly code = 'FUNCTION_CATALOG_LOAD_FAILED';

  constructor(cause: unknown) {
    super(`loading volatile functions failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'FunctionCatalogLoadError';
  }
}

export const VOLATILE_FUNCTIONS_SQL = `SELECT n.nspname AS schema, p.proname AS name
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.provolatile = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`;

export class FunctionCatalog {
  private names: ReadonlySet<string> | null = null;
  private inFlight: Promise<void> | null = null;
  private followUp: Promise<void> | null = null;

  constructor(private readonly opts: FunctionCatalogOptions) {}

  /** True once a load has succeeded. */
  get isLoaded(): boolean {
    return this.names !== null;
  }

  /**
   * true if a volatile user function has this `name` (in any schema) or this `schema.name`;
   * undefined before the first load (unknown); false otherwise. Names are exact (case-sensitive).
   */
  readonly isWriteFunction = (qualifiedName: string): boolean | undefined => {
    if (this.names === null) return undefined;
    return this.names.has(qualifiedName);
  };

  /**
   * Loads the catalog. A call made while a load runs queues exactly one more load after it, so DDL
   * committed while the first query ran is still seen. The previous names stay in use until then.
   */
  refresh(): Promise<void> {
    if (this.inFlight !== null) {
      this.followUp ??= this.inFlight
        .catch(() => undefined)
        .then(() => {
          this.followUp = null;
          return this.refresh();
        });
      return this.followUp;
    }
    this.inFlight = this.load().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Marks the catalog stale after DDL and reloads it in the background; failures go to onError. */
  invalidate(): Promise<void> {
    return this.refresh().catch((error: unknown) => {
      const failure = error instanceof FunctionCatalogLoadError ? error : new FunctionCatalogLoadError(error);
      this.opts.onError?.(failure);
    });
  }

  private async load(): Promise<void> {
    let rows: ReadonlyArray<Record<string, unknown>>;
    try {
      rows = await this.opts.query(VOLATILE_FUNCTIONS_SQL);
    } catch (error) {
      throw new FunctionCatalogLoadError(error);
    }
    const names = new Set<string>();
    for (const row of rows) {
      const name = String(row.name);
      names.add(name);
      names.add(`${String(row.schema)}.${name}`);
    }
    this.names = names;
    this.opts.onChange?.();
  }
}
