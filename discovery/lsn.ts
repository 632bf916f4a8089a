// PostgreSQL log sequence numbers: text '16/B374D848' <-> bigint, and byte distances between two of them.

import { LsnParseError } from './errors.js';

/**
 * pg_lsn text form is two hexadecimal numbers of up to 8 digits each, "high/low", printed as %X/%X
 * (https://www.postgresql.org/docs/15/datatype-pg-lsn.html); the value is high * 2^32 + low.
 */
const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: string): bigint {
  const match = LSN_PATTERN.exec(text);
  if (match === null) throw new LsnParseError(text);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Parses a nullable column: SQL NULL stays null. */
export function parseNullableLsn(text: string | null | undefined): bigint | null {
  return text === null || text === undefined ? null : parseLsn(text);
}

export function formatLsn(lsn: bigint): string {
  if (lsn < 0n || lsn > 0xffff_ffff_ffff_ffffn) throw new RangeError(`LSN out of range: ${lsn}`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/**
 * Bytes from `behind` to `ahead`, never negative: a standby probed a moment after the primary can report a
 * replay position past the primary's last-seen current position, which means "caught up", not "ahead".
 */
export function measureLsnDistance(ahead: bigint, behind: bigint): number {
  return ahead > behind ? Number(ahead - behind) : 0;
}
