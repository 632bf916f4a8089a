// Turns SET / set_config() parse-tree arguments into the setting text PostgreSQL stores, and decides pins.

import type { Node } from 'libpg-query';
import type { PinReason, SettingChange } from './classification.js';

/** Tells whether a lower-case word is a keyword that quote_identifier() must quote (not UNRESERVED). */
export type KeywordCheck = (word: string) => boolean;

/**
 * Parameters PostgreSQL reports to the client with ParameterStatus (GUC_REPORT), which the proxy can
 * track and replay, plus the proxy's own `pgroute.*` settings: changing them does not pin a session.
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC
 */
const REPORTED_PARAMETERS: ReadonlySet<string> = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'intervalstyle',
  'timezone',
  'standard_conforming_strings',
  'is_superuser',
  'integer_datetimes',
  'server_encoding',
  'server_version',
  'session_authorization',
  'default_transaction_read_only',
  'in_hot_standby',
]);

/** GUC_LIST_QUOTE parameters: SET quotes each element with quote_identifier() (guc_tables.c). */
const LIST_QUOTE_PARAMETERS: ReadonlySet<string> = new Set([
  'search_path',
  'temp_tablespaces',
  'local_preload_libraries',
  'session_preload_libraries',
  'shared_preload_libraries',
]);

export function isUnpinnedParameter(name: string): boolean {
  return REPORTED_PARAMETERS.has(name) || name.startsWith('pgroute.');
}

/** PostgreSQL's quote_identifier() (ruleutils.c): quote unless a plain lower-case non-keyword. */
export function quoteIdentifier(ident: string, isKeyword: KeywordCheck): string {
  const isPlain = /^[a-z_][a-z0-9_]*$/.test(ident);
  if (isPlain && !isKeyword(ident)) return ident;
  return `"${ident.replaceAll('"', '""')}"`;
}

/** PostgreSQL's parse_bool(): unique prefixes of true/false/yes/no, on/off, 1/0. */
export function parseBoolText(text: string): boolean | null {
  const value = text.trim().toLowerCase();
  if (value === '') return null;
  if ('true'.startsWith(value) || 'yes'.startsWith(value) || value === 'on' || value === '1') return true;
  if ('false'.startsWith(value) || 'no'.startsWith(value) || value === 'off' || value === 'of') return false;
  if (value === '0') return false;
  return null;
}

/** Text of an A_Const as SET sees it; undefined for NULL or anything that is not a constant. */
function constantText(node: Node): string | undefined {
  if (!('A_Const' in node)) return undefined;
  const c = node.A_Const;
  if (c.ival !== undefined) return String(c.ival.ival ?? 0); // libpg-query omits zero values
  if (c.fval !== undefined) return c.fval.fval ?? '0';
  if (c.sval !== undefined) return c.sval.sval ?? '';
  if (c.boolval !== undefined) return c.boolval.boolval === true ? 'true' : 'false';
  if (c.bsval !== undefined) return c.bsval.bsval ?? '';
  return undefined;
}

/**
 * The value PostgreSQL stores for `SET name TO args` (flatten_set_variable_args in guc_funcs.c): list
 * elements joined by ", ", strings of GUC_LIST_QUOTE parameters quoted as identifiers. undefined when
 * an argument is not a plain constant (SET TIME ZONE INTERVAL '...' HOUR TO MINUTE).
 */
export function formatSetValue(name: string, args: Node[], isKeyword: KeywordCheck): string | undefined {
  const isListQuote = LIST_QUOTE_PARAMETERS.has(name);
  const parts: string[] = [];
  for (const arg of args) {
    const text = constantText(arg);
    if (text === undefined) return undefined;
    const isString = 'A_Const' in arg && arg.A_Const.sval !== undefined;
    parts.push(isListQuote && isString ? quoteIdentifier(text, isKeyword) : text);
  }
  return parts.join(', ');
}

export type ConstantArg = { isKnown: true; text: string | null } | { isKnown: false };

/** A set_config() argument: a constant (NULL -> text null), possibly cast, or unknown. */
export function readConstantArg(node: Node | undefined): ConstantArg {
  if (node === undefined) return { isKnown: false };
  if ('TypeCast' in node && node.TypeCast.arg !== undefined) return readConstantArg(node.TypeCast.arg);
  if (!('A_Const' in node)) return { isKnown: false };
  if (node.A_Const.isnull === true) return { isKnown: true, text: null };
  const text = constantText(node);
  return text === undefined ? { isKnown: false } : { isKnown: true, text };
}

/** Pin implied by a setting change: only session-lifetime SETs of parameters the proxy cannot track. */
export function pinForSetting(change: SettingChange): PinReason | null {
  if (change.isLocal || change.value === null) return null;
  if (change.name === 'role') return change.value.toLowerCase() === 'none' ? null : 'set-role';
  if (change.name === 'session_authorization') return 'set-session-authorization';
  return isUnpinnedParameter(change.name) ? null : 'session-set';
}

/**
 * A hot standby refuses read-write transactions and SERIALIZABLE ("cannot set transaction read-write
 * mode during recovery", "cannot use serializable mode in a hot standby").
 */
export function isStandbyRefusedSetting(change: SettingChange): boolean {
  if (change.value === null) return false;
  if (change.name === 'transaction_read_only') return parseBoolText(change.value) === false;
  if (change.name === 'transaction_isolation') return change.value.trim().toLowerCase() === 'serializable';
  return false;
}
