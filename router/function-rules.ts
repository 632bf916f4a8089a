// Decides what calling a function does to routing: nothing, a write, an advisory lock, or a setting change.

/** What a call to a function means for routing. */
export type FunctionEffect =
  | 'none'
  /** Can write or has a side effect a standby cannot perform or must not perform: primary. */
  | 'write'
  /** Session-level advisory lock: primary, and the session is pinned until it unlocks. */
  | 'session-advisory-lock'
  /** Transaction-level advisory lock or an unlock: primary only. */
  | 'advisory-lock'
  /** set_config(): a run-time parameter change, safe on a standby. */
  | 'set-config';

export interface FunctionRulesOptions {
  /** Allow-list: these never write (bare `name` or `schema.name`, case-insensitive). */
  readFunctions?: readonly string[];
  /** Deny-list: these always write (bare `name` or `schema.name`, case-insensitive). */
  writeFunctions?: readonly string[];
  /**
   * Volatility lookup for user functions, called with `name` or `schema.name` exactly as written in the
   * query (after PostgreSQL's case folding). true = volatile (may write), undefined = unknown.
   */
  isWriteFunction?: (qualifiedName: string) => boolean | undefined;
}

// Session-level advisory locks outlive the transaction: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
const SESSION_ADVISORY_LOCKS: ReadonlySet<string> = new Set([
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
]);

const OTHER_ADVISORY_LOCKS: ReadonlySet<string> = new Set([
  'pg_advisory_xact_lock',
  'pg_advisory_xact_lock_shared',
  'pg_try_advisory_xact_lock',
  'pg_try_advisory_xact_lock_shared',
  'pg_advisory_unlock',
  'pg_advisory_unlock_shared',
  'pg_advisory_unlock_all',
]);

/**
 * Built-in functions with side effects. Most fail on a hot standby (sequences, XID assignment, NOTIFY,
 * WAL and slot control); the others act on the server they run on (signals, reloads, statistics resets,
 * server files), which for an application means the primary. currval/lastval read the session's
 * own nextval() result, which only exists on the primary connection.
 */
const WRITE_FUNCTIONS: ReadonlySet<string> = new Set([
  'nextval',
  'setval',
  'currval',
  'lastval',
  'pg_notify',
  'txid_current',
  'pg_current_xact_id',
  'pg_switch_wal',
  'pg_switch_xlog',
  'pg_create_restore_point',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_log_backend_memory_contexts',
  'pg_promote',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_create_physical_replication_slot',
  'pg_create_logical_replication_slot',
  'pg_drop_replication_slot',
  'pg_copy_physical_replication_slot',
  'pg_copy_logical_replication_slot',
  'pg_replication_slot_advance',
  'pg_logical_slot_get_changes',
  'pg_logical_slot_get_binary_changes',
  'pg_logical_emit_message',
  'pg_replication_origin_create',
  'pg_replication_origin_drop',
  'pg_replication_origin_advance',
  'pg_replication_origin_session_setup',
  'pg_replication_origin_session_reset',
  'pg_replication_origin_xact_setup',
  'pg_replication_origin_xact_reset',
  'pg_import_system_collations',
  'pg_stat_statements_reset',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
  'pg_truncate_visibility_map',
  'loread',
  'lowrite',
  'dblink_exec',
  'dblink_send_query',
  'dblink_connect',
  'dblink_connect_u',
]);

/** Families matched by prefix: large objects (lo_*) and statistics resets (pg_stat_reset*). */
const WRITE_PREFIXES: readonly string[] = ['lo_', 'pg_stat_reset'];

export class FunctionRules {
  private readonly readFunctions: ReadonlySet<string>;
  private readonly writeFunctions: ReadonlySet<string>;
  private readonly isWriteFunction: ((qualifiedName: string) => boolean | undefined) | undefined;

  constructor(opts: FunctionRulesOptions = {}) {
    this.readFunctions = new Set((opts.readFunctions ?? []).map((name) => name.toLowerCase()));
    this.writeFunctions = new Set((opts.writeFunctions ?? []).map((name) => name.toLowerCase()));
    this.isWriteFunction = opts.isWriteFunction;
  }

  /** `schema` is null for an unqualified call; names are as the parser reports them. */
  effectOf(schema: string | null, name: string): FunctionEffect {
    if (name === 'set_config' && (schema === null || schema === 'pg_catalog')) return 'set-config';
    const bare = name.toLowerCase();
    const qualified = schema === null ? null : `${schema.toLowerCase()}.${bare}`;
    if (this.readFunctions.has(bare) || (qualified !== null && this.readFunctions.has(qualified)))
      return 'none';
    if (this.writeFunctions.has(bare) || (qualified !== null && this.writeFunctions.has(qualified))) {
      return 'write';
    }
    // Built-ins match by exact bare name in any schema: a same-named user function is treated alike,
    // a quoted "NextVal" is a different function.
    if (SESSION_ADVISORY_LOCKS.has(name)) return 'session-advisory-lock';
    if (OTHER_ADVISORY_LOCKS.has(name)) return 'advisory-lock';
    if (WRITE_FUNCTIONS.has(name)) return 'write';
    for (const prefix of WRITE_PREFIXES) if (name.startsWith(prefix)) return 'write';
    if (this.isWriteFunction?.(schema === null ? name : `${schema}.${name}`) === true) return 'write';
    return 'none';
  }
}
