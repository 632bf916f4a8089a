// Parses and rewrites libpq key=value connection strings (primary_conninfo) without losing other keys.

/**
 * Grammar from https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING:
 * `key = value` pairs separated by whitespace; values may be single-quoted with \' and \\ escapes.
 */
export function parseConninfo(conninfo: string): Map<string, string> {
  const pairs = new Map<string, string>();
  const pattern = /([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/g;
  for (const match of conninfo.matchAll(pattern)) {
    const key = match[1]!;
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
    pairs.set(key, value);
  }
  return pairs;
}

export function formatConninfo(pairs: Map<string, string>): string {
  return [...pairs]
    .map(([key, value]) => `${key}='${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`)
    .join(' ');
}

/** Keeps user, passfile, sslmode... as pg_basebackup -R wrote them and swaps only the target. */
export function retargetConninfo(conninfo: string, host: string, port: number): string {
  const pairs = parseConninfo(conninfo);
  pairs.delete('hostaddr');
  pairs.set('host', host);
  pairs.set('port', String(port));
  return formatConninfo(pairs);
}
