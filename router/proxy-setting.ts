// Reads `SET pgroute.x TO primary`-style statements that PostgreSQL's grammar rejects.
//
// The proxy handles `pgroute.*` settings itself, and their natural values include reserved words
// (PRIMARY, ANY) that SET only accepts quoted. libpg-query fails on them, so after a parse error the
// classifier asks this reader, which accepts exactly: SET [SESSION|LOCAL] pgroute.<name> {TO|=} <word> [;]
// on the normalized text (comments already gone, whitespace folded to single spaces).

import type { SettingChange } from './classification.js';

const PROXY_SET =
  /^SET (?:(SESSION|LOCAL) )?(pgroute\.[a-z_][a-z0-9_]*) ?(?:=| TO ) ?([a-z_][a-z0-9_]*) ?;?$/i;

export function parseProxySetting(normalizedSql: string): SettingChange | null {
  const match = PROXY_SET.exec(normalizedSql);
  if (match === null) return null;
  const [, scope, name, value] = match;
  if (name === undefined || value === undefined) return null;
  return { name: name.toLowerCase(), value: value.toLowerCase(), isLocal: scope?.toUpperCase() === 'LOCAL' };
}
