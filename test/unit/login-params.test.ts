// The per-pool login cache: keys, role changes, expiry, the size bound and server restarts.
import { describe, expect, it } from 'vitest';
import {
  LOGIN_PARAMS_LIMIT,
  LOGIN_PARAMS_TTL_MS,
  LoginParams,
  type ReportedParam,
} from '../../proxy/server/login-params.js';

const PRIMARY: ReportedParam[] = [
  { name: 'server_version', value: '15.18' },
  { name: 'application_name', value: 'billing' },
  { name: 'in_hot_standby', value: 'off' },
];

describe('LoginParams.keyOf', () => {
  it('ignores the order of the settings', () => {
    expect(
      LoginParams.keyOf([
        ['a', '1'],
        ['b', '2'],
      ]),
    ).toBe(
      LoginParams.keyOf([
        ['b', '2'],
        ['a', '1'],
      ]),
    );
  });

  it('keeps names and values apart', () => {
    expect(LoginParams.keyOf([['ab', 'c']])).not.toBe(LoginParams.keyOf([['a', 'bc']]));
    expect(LoginParams.keyOf([['a', 'b']])).not.toBe(LoginParams.keyOf([['a', 'b\0x']]));
    expect(LoginParams.keyOf([])).not.toBe(LoginParams.keyOf([['a', '']]));
  });
});

describe('LoginParams', () => {
  it('answers a login with the settings a server accepted, and only those', () => {
    const lp = new LoginParams();
    const key = LoginParams.keyOf([['application_name', 'billing']]);
    lp.remember(key, PRIMARY, 0);
    expect(lp.get(key, 'primary', 1000)).toEqual(PRIMARY);
    expect(lp.get(LoginParams.keyOf([['application_name', 'other']]), 'primary', 1000)).toBeUndefined();
  });

  it('keeps its own copy of what it was given', () => {
    const lp = new LoginParams();
    const given = PRIMARY.map((p) => ({ ...p }));
    lp.remember('k', given, 0);
    given[1]!.value = 'changed later';
    expect(lp.get('k', null, 0)![1]!.value).toBe('billing');
  });

  it('misses once the instance changed role, and forgets the entry', () => {
    const lp = new LoginParams();
    lp.remember('k', PRIMARY, 0);
    expect(lp.get('k', 'standby', 0)).toBeUndefined();
    expect(lp.get('k', 'primary', 0)).toBeUndefined();
    lp.remember('k', [{ name: 'In_Hot_Standby', value: 'on' }], 0);
    expect(lp.get('k', 'standby', 0)).toHaveLength(1);
    expect(lp.get('k', 'primary', 0)).toBeUndefined();
  });

  it('cannot check the role of a server that does not report in_hot_standby, or with no role', () => {
    const lp = new LoginParams();
    lp.remember('old', [{ name: 'server_version', value: '13.0' }], 0);
    expect(lp.get('old', 'standby', 0)).toHaveLength(1);
    lp.remember('k', PRIMARY, 0);
    expect(lp.get('k', null, 0)).toEqual(PRIMARY);
  });

  it('expires entries after the TTL', () => {
    const lp = new LoginParams();
    lp.remember('k', PRIMARY, 5000);
    expect(lp.get('k', 'primary', 5000 + LOGIN_PARAMS_TTL_MS - 1)).toEqual(PRIMARY);
    expect(lp.get('k', 'primary', 5000 + LOGIN_PARAMS_TTL_MS)).toBeUndefined();
    expect(lp.size).toBe(0);
  });

  it('keeps at most LOGIN_PARAMS_LIMIT entries, dropping the oldest remembered', () => {
    const lp = new LoginParams();
    for (let i = 0; i < LOGIN_PARAMS_LIMIT; i++) lp.remember(`k${i}`, PRIMARY, 0);
    // Remembered again: now the newest.
    lp.remember('k0', PRIMARY, 0);
    lp.remember('extra', PRIMARY, 0);
    expect(lp.size).toBe(LOGIN_PARAMS_LIMIT);
    expect(lp.get('k0', null, 0)).toBeDefined();
    expect(lp.get('k1', null, 0)).toBeUndefined();
    expect(lp.get('extra', null, 0)).toBeDefined();
  });

  it('forgets everything when a new server connection reports different startup parameters', () => {
    const lp = new LoginParams();
    lp.noteServerStartup([{ name: 'server_version', value: '15.18' }]);
    lp.remember('k', PRIMARY, 0);
    lp.noteServerStartup([{ name: 'server_version', value: '15.18' }]);
    expect(lp.get('k', null, 0)).toBeDefined();
    lp.noteServerStartup([{ name: 'server_version', value: '16.4' }]);
    expect(lp.get('k', null, 0)).toBeUndefined();
  });
});
