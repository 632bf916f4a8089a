// The single probe query (one round trip per interval) and the pure parser of its row into a ProbeResult.

import { ProbeRowError } from './errors.js';
import { parseNullableLsn } from './lsn.js';

export interface ProbeResult {
  /** pg_is_in_recovery(): true on a standby. */
  isInRecovery: boolean;
  /** pg_current_wal_lsn(), primaries only. */
  currentLsn: bigint | null;
  /** pg_last_wal_receive_lsn(), standbys only (null when not streaming). */
  receiveLsn: bigint | null;
  /** pg_last_wal_replay_lsn(), standbys only. */
  replayLsn: bigint | null;
  timeline: number | null;
  systemIdentifier: string | null;
  /** Seconds since the last replayed transaction's commit; 0 on a primary or when receive == replay. */
  replayDelaySeconds: number | null;
}

/**
 * pg_is_in_recovery() is read once (the CTE holds a volatile function, so PostgreSQL does not inline it) so
 * that a promotion between two calls cannot make pg_current_wal_lsn() raise "recovery is in progress".
 *
 * Timeline: pg_control_checkpoint().timeline_id is only rewritten at the next checkpoint, so right after a
 * promotion it still shows the old timeline. A primary's current timeline is the first 8 hex digits of the WAL
 * file name of its insert position (https://www.postgresql.org/docs/15/functions-admin.html,
 * pg_walfile_name); a standby's is the timeline its WAL receiver streams (pg_stat_wal_receiver.received_tli).
 * The checkpoint value is only a fallback (e.g. a standby with no WAL receiver running).
 *
 * Lag in seconds: pg_last_xact_replay_timestamp() is the commit time of the last replayed transaction
 * (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-RECOVERY-INFO-TABLE); on an idle primary
 * it stops moving, so now() minus it grows although nothing is missing. When everything received has been
 * replayed the standby is caught up: 0.
 */
export const PROBE_SQL = `WITH r AS (SELECT pg_is_in_recovery() AS is_in_recovery)
SELECT r.is_in_recovery,
  CASE WHEN r.is_in_recovery THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
  pg_last_wal_receive_lsn()::text AS receive_lsn,
  pg_last_wal_replay_lsn()::text AS replay_lsn,
  CASE WHEN r.is_in_recovery THEN NULL
       ELSE substring(pg_walfile_name(pg_current_wal_lsn()) FROM 1 FOR 8) END AS wal_file_timeline_hex,
  CASE WHEN r.is_in_recovery THEN (SELECT received_tli FROM pg_stat_wal_receiver) END AS received_timeline,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
  (SELECT system_identifier FROM pg_control_system())::text AS system_identifier,
  CASE WHEN NOT r.is_in_recovery THEN 0::float8
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
       ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS replay_delay_seconds
FROM r`;

export function parseProbeRow(row: Record<string, unknown>): ProbeResult {
  const isInRecovery = row.is_in_recovery;
  if (typeof isInRecovery !== 'boolean') throw new ProbeRowError(`is_in_recovery=${String(isInRecovery)}`);
  const walFileTimeline = parseTimelineHex(readNullableString(row, 'wal_file_timeline_hex'));
  const receivedTimeline = readNullableNumber(row, 'received_timeline');
  const checkpointTimeline = readNullableNumber(row, 'checkpoint_timeline');
  const current = isInRecovery ? receivedTimeline : walFileTimeline;
  return {
    isInRecovery,
    currentLsn: parseNullableLsn(readNullableString(row, 'current_lsn')),
    receiveLsn: parseNullableLsn(readNullableString(row, 'receive_lsn')),
    replayLsn: parseNullableLsn(readNullableString(row, 'replay_lsn')),
    timeline: current ?? checkpointTimeline,
    systemIdentifier: readNullableString(row, 'system_identifier'),
    replayDelaySeconds: readNullableNumber(row, 'replay_delay_seconds'),
  };
}

/** WAL file names are TTTTTTTTXXXXXXXXYYYYYYYY: the first 8 hex digits are the timeline ID. */
export function parseTimelineHex(hex: string | null): number | null {
  if (hex === null) return null;
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) throw new ProbeRowError(`wal_file_timeline_hex=${hex}`);
  return Number.parseInt(hex, 16);
}

function readNullableString(row: Record<string, unknown>, column: string): string | null {
  const value = row[column];
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw new ProbeRowError(`${column} is ${typeof value}`);
  return value;
}

function readNullableNumber(row: Record<string, unknown>, column: string): number | null {
  const value = row[column];
  if (value === null || value === undefined) return null;
  const parsed = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (!Number.isFinite(parsed)) throw new ProbeRowError(`${column}=${String(value)}`);
  return parsed;
}
