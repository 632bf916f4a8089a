// Unit tests: parsing the probe query's row into a ProbeResult.
import { describe, expect, it } from 'vitest';
import { ProbeRowError } from '../../discovery/errors.js';
import { parseProbeRow, parseTimelineHex } from '../../discovery/probe-query.js';

const PRIMARY_ROW = {
  is_in_recovery: false,
  current_lsn: '0/3000148',
  receive_lsn: null,
  replay_lsn: null,
  wal_file_timeline_hex: '00000002',
  received_timeline: null,
  checkpoint_timeline: 1,
  system_identifier: '7301234567890123456',
  replay_delay_seconds: 0,
};

const STANDBY_ROW = {
  is_in_recovery: true,
  current_lsn: null,
  receive_lsn: '0/3000148',
  replay_lsn: '0/3000100',
  wal_file_timeline_hex: null,
  received_timeline: 3,
  checkpoint_timeline: 1,
  system_identifier: '7301234567890123456',
  replay_delay_seconds: 1.5,
};

describe('parseProbeRow', () => {
  it('reads a primary as not in recovery with its current LSN', () => {
    const result = parseProbeRow(PRIMARY_ROW);
    expect([result.isInRecovery, result.currentLsn]).toEqual([false, 0x3000148n]);
  });

  it("takes a primary's timeline from its WAL file name, not from the stale checkpoint", () => {
    expect(parseProbeRow(PRIMARY_ROW).timeline).toBe(2);
  });

  it("takes a standby's timeline from the WAL receiver", () => {
    expect(parseProbeRow(STANDBY_ROW).timeline).toBe(3);
  });

  it("falls back to the checkpoint timeline when a standby's WAL receiver is not running", () => {
    expect(parseProbeRow({ ...STANDBY_ROW, received_timeline: null }).timeline).toBe(1);
  });

  it('reads receive and replay LSNs of a standby', () => {
    const result = parseProbeRow(STANDBY_ROW);
    expect([result.receiveLsn, result.replayLsn]).toEqual([0x3000148n, 0x3000100n]);
  });

  it('keeps the system identifier as text (it does not fit a double)', () => {
    expect(parseProbeRow(PRIMARY_ROW).systemIdentifier).toBe('7301234567890123456');
  });

  it('accepts the replay delay as numeric text', () => {
    expect(parseProbeRow({ ...STANDBY_ROW, replay_delay_seconds: '2.25' }).replayDelaySeconds).toBe(2.25);
  });

  it('keeps a null replay delay (nothing replayed yet) as null', () => {
    expect(parseProbeRow({ ...STANDBY_ROW, replay_delay_seconds: null }).replayDelaySeconds).toBeNull();
  });

  it('rejects a row without a boolean is_in_recovery', () => {
    expect(() => parseProbeRow({ ...PRIMARY_ROW, is_in_recovery: 'f' })).toThrow(ProbeRowError);
  });

  it('rejects a malformed WAL file timeline', () => {
    expect(() => parseTimelineHex('0002')).toThrow(ProbeRowError);
  });
});
