import { describe, expect, it } from 'vitest';
import { buildSettingsSync, identifier, literal } from '../../proxy/settings-sync.js';

describe('buildSettingsSync', () => {
  it('returns null when the server already carries the client settings', () => {
    expect(buildSettingsSync(new Map([['a', '1']]), new Map([['a', '1']]))).toBeNull();
  });

  it('sets what differs with set_config and resets what the client does not have', () => {
    const sql = buildSettingsSync(
      new Map([
        ['statement_timeout', '5s'],
        ['application_name', 'old'],
      ]),
      new Map([['application_name', 'new']]),
    );
    expect(sql).toBe(
      `SELECT pg_catalog.set_config('application_name', 'new', false); RESET "statement_timeout"`,
    );
  });

  it('quotes values with quotes and backslashes safely', () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(literal('a\\b')).toBe("E'a\\\\b'");
    expect(identifier('myapp.tenant')).toBe('"myapp"."tenant"');
  });
});
