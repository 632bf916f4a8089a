import { describe, expect, it } from 'vitest';
import { applyEnv, applyFlags, ConfigError, validateConfig } from '../../config.js';

const base = {
  cluster: { hosts: ['127.0.0.1:5432'] },
  users: [{ name: 'app', password: 'x' }],
  pool: { size: 5 },
};

describe('--set flags', () => {
  it('override the file and the environment, by dotted path and array index', () => {
    const raw = applyFlags(applyEnv(base, { PGROUTE_POOL__SIZE: '10' }), [
      'pool.size=50',
      'users.0.password=s3cret',
      'log.statements=true',
    ]);
    const c = validateConfig(raw);
    expect(c.pool.size).toBe(50);
    expect(c.users[0]!.password).toBe('s3cret');
    expect(c.log.statements).toBe(true);
  });

  it('reject a flag without key=value', () => {
    expect(() => applyFlags(base, ['pool.size'])).toThrow(ConfigError);
  });

  it('are validated like the file: a bad value names its key', () => {
    expect(() => validateConfig(applyFlags(base, ['pool.size=zero']))).toThrow(/pool\.size/);
  });
});
