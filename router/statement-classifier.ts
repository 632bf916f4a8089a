// Classifies ONE parsed statement: target, reason, transaction effect, pin, settings, read-only safety.

import type {
  CopyStmt,
  DeclareCursorStmt,
  DefElem,
  DiscardStmt,
  ExplainStmt,
  IntoClause,
  Node,
  RangeVar,
  TransactionStmt,
  VariableSetStmt,
} from 'libpg-query';
import type { PinReason, Reason, SettingChange, Target, TxEffect } from './classification.js';
import type { FunctionRules } from './function-rules.js';
import {
  formatSetValue,
  isStandbyRefusedSetting,
  type KeywordCheck,
  parseBoolText,
  pinForSetting,
  readConstantArg,
} from './setting-values.js';
import { collectTreeFacts, type FunctionCallFact, type TreeFacts } from './tree-facts.js';

export interface StatementVerdict {
  target: Target;
  reason: Reason;
  tx: TxEffect;
  pin: PinReason | null;
  settings: SettingChange[];
  isReadOnlyBlockSafe: boolean;
  /** The verdict depends on literal values (SET values, set_config args, EXPLAIN option values). */
  isLiteralSensitive: boolean;
}

export interface StatementContext {
  functions: FunctionRules;
  isKeyword: KeywordCheck;
}

/** DECLARE ... WITH HOLD sets CURSOR_OPT_HOLD (0x0020) in DeclareCursorStmt.options (parsenodes.h). */
const CURSOR_OPT_HOLD = 0x20;

const MAINTENANCE_STATEMENTS: ReadonlySet<string> = new Set([
  'VacuumStmt',
  'ClusterStmt',
  'ReindexStmt',
  'CheckPointStmt',
]);

const UTILITY_ANY_STATEMENTS: ReadonlySet<string> = new Set([
  'FetchStmt',
  'ClosePortalStmt',
  'DeallocateStmt',
  'ConstraintsSetStmt',
]);

const PRIMARY_STATEMENTS: Readonly<Record<string, Reason>> = {
  InsertStmt: 'write-dml',
  UpdateStmt: 'write-dml',
  DeleteStmt: 'write-dml',
  MergeStmt: 'write-dml',
  CallStmt: 'call',
  DoStmt: 'do-block',
  LockStmt: 'lock',
  NotifyStmt: 'notify',
  ExecuteStmt: 'execute',
};

function verdict(target: Target, reason: Reason, extra: Partial<StatementVerdict> = {}): StatementVerdict {
  return {
    target,
    reason,
    tx: null,
    pin: null,
    settings: [],
    isReadOnlyBlockSafe: target === 'any',
    isLiteralSensitive: false,
    ...extra,
  };
}

function isTempRelation(rel: RangeVar | undefined): boolean {
  if (rel === undefined) return false;
  const schema = rel.schemaname;
  return rel.relpersistence === 't' || schema === 'pg_temp' || (schema?.startsWith('pg_temp_') ?? false);
}

interface CallsSummary {
  writeReason: Reason | null;
  pin: PinReason | null;
  settings: SettingChange[];
  hasSetConfig: boolean;
  isStandbyRefused: boolean;
}

/** set_config(name, value, is_local): a setting change when all three are constants. */
function summarizeSetConfig(call: FunctionCallFact, summary: CallsSummary): void {
  summary.hasSetConfig = true;
  const name = readConstantArg(call.args[0]);
  const value = readConstantArg(call.args[1]);
  const isLocalArg = readConstantArg(call.args[2]);
  const isLocal = isLocalArg.isKnown && isLocalArg.text !== null ? parseBoolText(isLocalArg.text) : null;
  if (name.isKnown && name.text !== null && value.isKnown && isLocal !== null) {
    const change: SettingChange = { name: name.text.toLowerCase(), value: value.text, isLocal };
    summary.settings.push(change);
    summary.pin ??= pinForSetting(change);
    if (isStandbyRefusedSetting(change)) summary.isStandbyRefused = true;
  } else if (isLocal !== true) {
    summary.pin ??= 'session-set'; // cannot be replayed elsewhere: keep the session where it ran
  }
}

function summarizeCalls(facts: TreeFacts, ctx: StatementContext): CallsSummary {
  const summary: CallsSummary = {
    writeReason: null,
    pin: null,
    settings: [],
    hasSetConfig: false,
    isStandbyRefused: false,
  };
  let hasWrite = false;
  let hasAdvisoryLock = false;
  for (const call of facts.calls) {
    const effect = ctx.functions.effectOf(call.schema, call.name);
    if (effect === 'write') hasWrite = true;
    else if (effect === 'advisory-lock') hasAdvisoryLock = true;
    else if (effect === 'session-advisory-lock') {
      hasAdvisoryLock = true;
      summary.pin ??= 'advisory-lock';
    } else if (effect === 'set-config') summarizeSetConfig(call, summary);
  }
  summary.writeReason = hasAdvisoryLock ? 'advisory-lock' : hasWrite ? 'write-function' : null;
  return summary;
}

/** SELECT / VALUES / TABLE, and the DML statements whose function calls also matter. */
function classifyQuery(type: string, body: unknown, ctx: StatementContext): StatementVerdict {
  const facts = collectTreeFacts(body);
  const calls = summarizeCalls(facts, ctx);
  const shared = { pin: calls.pin, settings: calls.settings, isLiteralSensitive: calls.hasSetConfig };
  const dmlReason = PRIMARY_STATEMENTS[type];
  if (dmlReason !== undefined) return verdict('primary', dmlReason, shared);
  if (facts.intoRelations.length > 0) {
    const isTemp = facts.intoRelations.some(isTempRelation);
    return verdict('primary', 'select-into', { ...shared, pin: isTemp ? 'temp-table' : calls.pin });
  }
  if (facts.hasDataModification) return verdict('primary', 'data-modifying-cte', shared);
  if (facts.hasLockingClause) return verdict('primary', 'locking-read', shared);
  if (calls.writeReason !== null) return verdict('primary', calls.writeReason, shared);
  if (calls.isStandbyRefused) return verdict('primary', 'session-setting', shared);
  return verdict('any', calls.hasSetConfig ? 'session-setting' : 'read', shared);
}

function defElems(options: Node[] | undefined): DefElem[] {
  return (options ?? []).flatMap((option) => ('DefElem' in option ? [option.DefElem] : []));
}

/** EXPLAIN's ANALYZE option (defGetBoolean): no argument means true; unreadable counts as true. */
function readExplainAnalyze(options: Node[] | undefined): { isAnalyze: boolean; hasValue: boolean } {
  let isAnalyze = false;
  let hasValue = false;
  for (const option of defElems(options)) {
    if (option.defname !== 'analyze') continue;
    const arg = option.arg;
    if (arg === undefined) isAnalyze = true;
    else {
      hasValue = true;
      if ('Integer' in arg) isAnalyze = (arg.Integer.ival ?? 0) !== 0;
      else if ('String' in arg) isAnalyze = parseBoolText(arg.String.sval ?? '') !== false;
      else isAnalyze = true;
    }
  }
  return { isAnalyze, hasValue };
}

function classifyExplain(stmt: ExplainStmt, ctx: StatementContext): StatementVerdict {
  const { isAnalyze, hasValue } = readExplainAnalyze(stmt.options);
  // Without ANALYZE nothing is executed: planning works on a standby even for INSERT.
  if (!isAnalyze || stmt.query === undefined) return verdict('any', 'read', { isLiteralSensitive: hasValue });
  const inner = classifyStatement(stmt.query, ctx);
  const isWrite = inner.target === 'primary';
  return {
    ...inner,
    reason: isWrite ? 'explain-analyze-write' : 'read',
    tx: null,
    isLiteralSensitive: inner.isLiteralSensitive || hasValue,
  };
}

function classifyCopy(stmt: CopyStmt, ctx: StatementContext): StatementVerdict {
  if (stmt.is_from === true) return verdict('primary', 'copy-from');
  if (stmt.filename !== undefined || stmt.is_program === true) return verdict('primary', 'copy-to-file');
  if (stmt.query === undefined) return verdict('any', 'read');
  const inner = classifyStatement(stmt.query, ctx);
  return { ...inner, reason: inner.target === 'primary' ? 'copy-to' : 'read' };
}

function classifyTransaction(stmt: TransactionStmt): StatementVerdict {
  switch (stmt.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START': {
      let readOnly: boolean | null = null;
      let isolation: string | null = null;
      for (const option of defElems(stmt.options)) {
        const arg = option.arg;
        if (arg === undefined || !('A_Const' in arg)) continue;
        if (option.defname === 'transaction_read_only') readOnly = (arg.A_Const.ival?.ival ?? 0) !== 0;
        if (option.defname === 'transaction_isolation') isolation = arg.A_Const.sval?.sval ?? null;
      }
      // A standby refuses READ WRITE and SERIALIZABLE transactions.
      const target: Target = readOnly === false || isolation === 'serializable' ? 'primary' : 'any';
      return verdict(target, 'transaction-control', { tx: { kind: 'begin', readOnly, isolation } });
    }
    case 'TRANS_STMT_COMMIT':
      return verdict('any', 'transaction-control', { tx: { kind: 'commit' } });
    case 'TRANS_STMT_ROLLBACK':
      return verdict('any', 'transaction-control', { tx: { kind: 'rollback' } });
    case 'TRANS_STMT_SAVEPOINT':
      return verdict('any', 'transaction-control', { tx: { kind: 'savepoint' } });
    case 'TRANS_STMT_RELEASE':
      return verdict('any', 'transaction-control', { tx: { kind: 'release' } });
    case 'TRANS_STMT_ROLLBACK_TO':
      return verdict('any', 'transaction-control', { tx: { kind: 'rollback-to' } });
    case 'TRANS_STMT_PREPARE':
      return verdict('primary', 'transaction-control', { tx: { kind: 'prepare-transaction' } });
    default:
      // COMMIT PREPARED / ROLLBACK PREPARED run outside any transaction block and only on the primary.
      return verdict('primary', 'transaction-control');
  }
}

/** SET TRANSACTION ... / SET SESSION CHARACTERISTICS AS TRANSACTION ... (VAR_SET_MULTI). */
function readTransactionModes(stmt: VariableSetStmt, isSession: boolean): SettingChange[] {
  const changes: SettingChange[] = [];
  for (const option of defElems(stmt.args)) {
    const arg = option.arg;
    const defname = option.defname ?? '';
    if (arg === undefined || !('A_Const' in arg) || !defname.startsWith('transaction_')) continue;
    const value =
      defname === 'transaction_isolation'
        ? (arg.A_Const.sval?.sval ?? '')
        : (arg.A_Const.ival?.ival ?? 0) !== 0
          ? 'on'
          : 'off';
    changes.push({ name: isSession ? `default_${defname}` : defname, value, isLocal: !isSession });
  }
  return changes;
}

function classifySet(stmt: VariableSetStmt, ctx: StatementContext): StatementVerdict {
  const name = (stmt.name ?? '').toLowerCase();
  const isLocal = stmt.is_local === true;
  let changes: SettingChange[] = [];
  let reason: Reason = 'session-setting';
  let pin: PinReason | null = null;
  switch (stmt.kind) {
    case 'VAR_SET_MULTI':
      if (name === 'transaction' || name === 'transaction snapshot') reason = 'transaction-control';
      changes = readTransactionModes(stmt, name === 'session characteristics');
      break;
    case 'VAR_SET_VALUE': {
      const value = formatSetValue(name, stmt.args ?? [], ctx.isKeyword);
      if (value === undefined) pin = isLocal ? null : 'session-set';
      else changes = [{ name, value, isLocal }];
      break;
    }
    case 'VAR_SET_DEFAULT':
    case 'VAR_RESET':
      changes = [{ name, value: null, isLocal }];
      break;
    case 'VAR_RESET_ALL':
      changes = [{ name: 'all', value: null, isLocal: false }];
      break;
    default:
      break; // SET x FROM CURRENT keeps the current value
  }
  for (const change of changes) pin ??= pinForSetting(change);
  const isRefused = changes.some(isStandbyRefusedSetting);
  return verdict(isRefused ? 'primary' : 'any', reason, {
    pin,
    settings: changes,
    isLiteralSensitive: stmt.kind === 'VAR_SET_VALUE',
  });
}

function classifyDeclare(stmt: DeclareCursorStmt, ctx: StatementContext): StatementVerdict {
  const inner =
    stmt.query === undefined ? verdict('primary', 'parse-error') : classifyStatement(stmt.query, ctx);
  const isHold = ((stmt.options ?? 0) & CURSOR_OPT_HOLD) !== 0;
  return { ...inner, pin: isHold ? 'cursor-with-hold' : inner.pin };
}

/** DDL that creates a temporary object pins the session to the connection that owns it. */
function createsTempObject(type: string, body: Record<string, unknown>): boolean {
  switch (type) {
    case 'CreateStmt':
      return isTempRelation(body.relation as RangeVar | undefined);
    case 'CreateTableAsStmt':
      return isTempRelation((body.into as IntoClause | undefined)?.rel);
    case 'ViewStmt':
      return isTempRelation(body.view as RangeVar | undefined);
    case 'CreateSeqStmt':
      return isTempRelation(body.sequence as RangeVar | undefined);
    case 'CreateFunctionStmt': {
      const parts = (body.funcname as Node[] | undefined) ?? [];
      const first = parts.length > 1 ? parts[0] : undefined;
      const schema = first !== undefined && 'String' in first ? (first.String.sval ?? '') : '';
      return schema === 'pg_temp' || schema.startsWith('pg_temp_');
    }
    default:
      return false;
  }
}

/** Classifies one RawStmt.stmt node. Unknown statement types go to the primary as DDL. */
export function classifyStatement(stmt: Node, ctx: StatementContext): StatementVerdict {
  const type = Object.keys(stmt)[0] ?? '';
  const body = (stmt as Record<string, unknown>)[type] as Record<string, unknown>;
  if (type === 'SelectStmt' || PRIMARY_STATEMENTS[type] === 'write-dml')
    return classifyQuery(type, body, ctx);
  const primaryReason = PRIMARY_STATEMENTS[type];
  if (primaryReason !== undefined) return verdict('primary', primaryReason);
  if (MAINTENANCE_STATEMENTS.has(type)) return verdict('primary', 'maintenance');
  if (UTILITY_ANY_STATEMENTS.has(type)) return verdict('any', 'utility');
  switch (type) {
    case 'VariableShowStmt':
      return verdict('any', 'read');
    case 'ExplainStmt':
      return classifyExplain(body as ExplainStmt, ctx);
    case 'CopyStmt':
      return classifyCopy(body as CopyStmt, ctx);
    case 'TransactionStmt':
      return classifyTransaction(body as TransactionStmt);
    case 'VariableSetStmt':
      return classifySet(body as VariableSetStmt, ctx);
    case 'DeclareCursorStmt':
      return classifyDeclare(body as DeclareCursorStmt, ctx);
    case 'PrepareStmt': {
      const query = body.query as Node | undefined;
      const inner = query === undefined ? verdict('primary', 'parse-error') : classifyStatement(query, ctx);
      // PREPARE only plans; the inner target tells where EXECUTE will have to run.
      return verdict(inner.target, inner.reason, {
        pin: 'sql-prepare',
        isReadOnlyBlockSafe: true,
        isLiteralSensitive: inner.isLiteralSensitive,
      });
    }
    case 'ListenStmt':
    case 'UnlistenStmt':
      return verdict('primary', 'listen', { pin: 'listen' });
    case 'LoadStmt':
      return verdict('any', 'utility', { pin: 'load' });
    case 'DiscardStmt':
      // DISCARD ALL cannot run inside a transaction block.
      return verdict('any', 'utility', {
        isReadOnlyBlockSafe: (body as DiscardStmt).target !== 'DISCARD_ALL',
      });
    default:
      return verdict('primary', 'ddl', { pin: createsTempObject(type, body) ? 'temp-table' : null });
  }
}
