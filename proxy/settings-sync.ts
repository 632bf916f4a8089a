// Pure: the SQL that makes a server connection carry a client's session settings (transaction pooling).

/** Settings by lower-case name; the value is text as `set_config` accepts it. */
export type Settings = ReadonlyMap<string, string>;

/** Startup parameters that are not settings: the proxy consumes them itself. */
export const NON_SETTING_PARAMS = new Set(['user', 'database', 'options', 'replication']);

/**
 * Builds one simple-protocol query that turns `applied` (what the server connection carries on top
 * of its defaults) into `wanted` (the client's settings), or null when they already match.
 * set_config(name, value, false) is used rather than SET because it takes the value as text, exactly
 * as a startup parameter would be taken (lists such as search_path keep their meaning).
 */
export function buildSettingsSync(applied: Settings, wanted: Settings): string | null {
  // The common case on every transaction: the connection already carries exactly these settings.
  if (isSame(applied, wanted)) return null;
  const parts: string[] = [];
  const sets: string[] = [];
  for (const [name, value] of wanted) {
    if (applied.get(name) !== value)
      sets.push(`pg_catalog.set_config(${literal(name)}, ${literal(value)}, false)`);
  }
  if (sets.length > 0) parts.push(`SELECT ${sets.join(', ')}`);
  for (const name of applied.keys()) {
    if (!wanted.has(name)) parts.push(`RESET ${identifier(name)}`);
  }
  return parts.length > 0 ? parts.join('; ') : null;
}

function isSame(a: Settings, b: Settings): boolean {
  if (a.size !== b.size) return false;
  // Runs on every transaction: iterating entries would allocate a [name, value] pair per setting.
  for (const name of b.keys()) if (a.get(name) !== b.get(name)) return false;
  return true;
}

/** A SQL string literal; E'' form only when a backslash is present (standard_conforming_strings may be off). */
export function literal(s: string): string {
  const doubled = s.replace(/'/g, "''");
  return s.includes('\\') ? `E'${doubled.replace(/\\/g, '\\\\')}'` : `'${doubled}'`;
}

/** A quoted identifier; GUC names may contain dots (custom placeholders such as `myapp.tenant`). */
export function identifier(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}
