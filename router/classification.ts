// The result types of statement classification: where SQL may run, why, and what it does to session state.

import type { Hint } from './normalize.js';

export type { Hint } from './normalize.js';

/** 'any' = safe on a read-only hot standby; 'primary' = must run on the primary. */
export type Target = 'primary' | 'any';

/**
 * Why a statement got its target. Stable strings: metrics and logs use them.
 *
 * target 'any':
 * - `read`                  SELECT/VALUES/TABLE/SHOW, EXPLAIN (no ANALYZE), EXPLAIN ANALYZE of a read,
 *                           COPY ... TO STDOUT of a read, DECLARE CURSOR of a read
 * - `utility`               FETCH/MOVE/CLOSE, DEALLOCATE, DISCARD, LOAD, SET CONSTRAINTS
 * - `session-setting`       SET/RESET (see the `settings` field), set_config() in a read
 * - `transaction-control`   BEGIN/COMMIT/ROLLBACK/SAVEPOINT/..., SET TRANSACTION (also 'primary', below)
 * - `empty`                 no statement at all
 * - `hint-standby`          a read carrying /* pgroute:standby *\/
 *
 * target 'primary':
 * - `write-dml`             INSERT/UPDATE/DELETE/MERGE
 * - `ddl`                   CREATE/ALTER/DROP/GRANT/TRUNCATE/COMMENT/REFRESH/... and any statement type
 *                           not listed here (unknown statements default to the primary)
 * - `maintenance`           VACUUM/ANALYZE/CLUSTER/REINDEX/CHECKPOINT
 * - `locking-read`          SELECT ... FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE (anywhere in the tree)
 * - `select-into`           SELECT ... INTO table
 * - `data-modifying-cte`    a SELECT containing INSERT/UPDATE/DELETE/MERGE (WITH x AS (INSERT ...))
 * - `copy-from`             COPY ... FROM
 * - `copy-to`               COPY (query that writes) TO ...
 * - `copy-to-file`          COPY ... TO 'file' / TO PROGRAM: the file belongs on the primary's host
 * - `call` `do-block` `lock` `notify` `listen`   CALL, DO, LOCK, NOTIFY, LISTEN/UNLISTEN
 * - `execute`               EXECUTE of an SQL-level prepared statement (its text is unknown here)
 * - `explain-analyze-write` EXPLAIN ANALYZE of a statement that needs the primary
 * - `write-function`        calls a function that can write (built-in deny-list, opts.writeFunctions,
 *                           or reported volatile by the function catalog)
 * - `advisory-lock`         calls pg_advisory_lock & friends: locks must be taken where everyone takes them
 * - `transaction-control`   PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED, BEGIN READ WRITE,
 *                           BEGIN/SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, SET TRANSACTION READ WRITE
 *                           (a hot standby refuses all of these)
 * - `session-setting`       SET transaction_read_only = off / transaction_isolation = serializable
 * - `parse-error`           libpg-query rejected the text
 * - `hint-primary`          /* pgroute:primary *\/ on a statement that could have run anywhere
 */
export type Reason =
  | 'read'
  | 'utility'
  | 'session-setting'
  | 'transaction-control'
  | 'empty'
  | 'hint-standby'
  | 'write-dml'
  | 'ddl'
  | 'maintenance'
  | 'locking-read'
  | 'select-into'
  | 'data-modifying-cte'
  | 'copy-from'
  | 'copy-to'
  | 'copy-to-file'
  | 'call'
  | 'do-block'
  | 'lock'
  | 'notify'
  | 'listen'
  | 'execute'
  | 'explain-analyze-write'
  | 'write-function'
  | 'advisory-lock'
  | 'parse-error'
  | 'hint-primary';

/** Effect of one statement on the transaction state; null for statements that are not transaction control. */
export type TxEffect =
  | { kind: 'begin'; readOnly: boolean | null; isolation: string | null }
  | { kind: 'commit' }
  | { kind: 'rollback' }
  | { kind: 'savepoint' }
  | { kind: 'release' }
  | { kind: 'rollback-to' }
  | { kind: 'prepare-transaction' }
  | null;

/**
 * Why the client's session must stay on its server connection (cannot be pooled per transaction).
 * - `session-set`               SET of a parameter PostgreSQL does not report via ParameterStatus,
 *                               or set_config(..., false) that cannot be replayed
 * - `listen`                    LISTEN/UNLISTEN
 * - `sql-prepare`               PREPARE name AS ...
 * - `temp-table`                CREATE TEMP TABLE/VIEW/SEQUENCE, CREATE ... pg_temp.x, SELECT INTO TEMP
 * - `advisory-lock`             session-level pg_advisory_lock / pg_try_advisory_lock (+ _shared)
 * - `cursor-with-hold`          DECLARE ... WITH HOLD
 * - `set-role`                  SET ROLE (not SET LOCAL ROLE, not SET ROLE NONE)
 * - `set-session-authorization` SET SESSION AUTHORIZATION
 * - `load`                      LOAD 'library'
 */
export type PinReason =
  | 'session-set'
  | 'listen'
  | 'sql-prepare'
  | 'temp-table'
  | 'advisory-lock'
  | 'cursor-with-hold'
  | 'set-role'
  | 'set-session-authorization'
  | 'load';

/** A run-time parameter change, from SET / RESET / SET LOCAL / SET TRANSACTION / set_config(). */
export interface SettingChange {
  /** Lower-cased parameter name; 'all' for RESET ALL. */
  name: string;
  /** Text PostgreSQL accepts in set_config(name, value, false); null = back to the default (RESET). */
  value: string | null;
  /** SET LOCAL / SET TRANSACTION / set_config(..., true): ends with the transaction. */
  isLocal: boolean;
}

export interface Classification {
  target: Target;
  reason: Reason;
  /** Effect of the LAST transaction-control statement (null if there is none). */
  tx: TxEffect;
  /** One entry per statement, in order (null for statements that are not transaction control). */
  txEffects: TxEffect[];
  /** First pin reason found, or null. */
  pin: PinReason | null;
  settings: SettingChange[];
  /** Strongest leading hint: primary > standby > any; null if there is none. */
  hint: Hint | null;
  statementCount: number;
  /**
   * Every statement may run inside a READ ONLY transaction on a hot standby (so a BEGIN READ ONLY block
   * routed to a standby will not fail on it). Independent of hints.
   */
  isReadOnlyBlockSafe: boolean;
}
