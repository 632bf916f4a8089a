// Unit tests: pg_lsn text <-> bigint and LSN distances.
import { describe, expect, it } from 'vitest';
import { LsnParseError } from '../../discovery/errors.js';
import { formatLsn, measureLsnDistance, parseLsn, parseNullableLsn } from '../../discovery/lsn.js';

describe('LSN helpers', () => {
  it('parses high/low hexadecimal halves into high * 2^32 + low', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16n * 2n ** 32n + 0xb374d848n);
  });

  it('parses lower-case hexadecimal', () => {
    expect(parseLsn('16/b374d848')).toBe(parseLsn('16/B374D848'));
  });

  it('parses the zero LSN', () => {
    expect(parseLsn('0/0')).toBe(0n);
  });

  it('parses the largest LSN', () => {
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });

  it('formats like PostgreSQL: upper-case hex without zero padding', () => {
    expect(formatLsn(0x16n * 2n ** 32n + 0x0374d848n)).toBe('16/374D848');
  });

  it('round-trips text through bigint', () => {
    for (const text of ['0/0', '0/3000060', '1/0', 'A/1', 'FFFFFFFF/FFFFFFFF'])
      expect(formatLsn(parseLsn(text))).toBe(text);
  });

  it.each([
    '',
    '16',
    '16/',
    '/B374D848',
    '16/B374D8489',
    '123456789/0',
    '16/G',
    ' 16/B374D848',
    '16-B374D848',
  ])('rejects %j with an LsnParseError', (text) => {
    expect(() => parseLsn(text)).toThrow(LsnParseError);
  });

  it('gives the LsnParseError a stable code', () => {
    expect(() => parseLsn('nope')).toThrow(expect.objectContaining({ code: 'ERR_PGROUTE_LSN_PARSE' }));
  });

  it('keeps SQL NULL as null', () => {
    expect(parseNullableLsn(null)).toBeNull();
  });

  it('refuses to format a negative LSN', () => {
    expect(() => formatLsn(-1n)).toThrow(RangeError);
  });

  it('measures the bytes between two LSNs across the 4 GiB boundary', () => {
    expect(measureLsnDistance(parseLsn('1/10'), parseLsn('0/FFFFFFF0'))).toBe(0x20);
  });

  it('measures a standby that is past the last-seen primary position as zero behind', () => {
    expect(measureLsnDistance(parseLsn('0/100'), parseLsn('0/200'))).toBe(0);
  });
});
