import { describe, expect, it } from 'vitest';
import { configKeyPaths, validateConfig } from '../../config.js';
import { diffConfig, LIVE_KEYS, RESTART_KEYS } from '../../reload-keys.js';

describe('reload', () => {
  it('classifies every configuration key as applied live or needing a restart', () => {
    const covered = [...LIVE_KEYS, ...RESTART_KEYS];
    const uncovered = configKeyPaths().filter(
      (p) => !covered.some((c) => p === c || p.startsWith(`${c}.`) || c.startsWith(`${p}.`)),
    );
    expect(uncovered).toEqual([]);
  });

  it('never lists a key as both live and restart-only', () => {
    const both = LIVE_KEYS.filter((k) =>
      RESTART_KEYS.some((r) => r === k || r.startsWith(`${k}.`) || k.startsWith(`${r}.`)),
    );
    expect(both).toEqual([]);
  });

  it('reports what a new configuration changes, split by how it takes effect', () => {
    const base = {
      listen: [{ host: '127.0.0.1', port: 6432 }],
      cluster: { hosts: ['127.0.0.2:5432'] },
      users: [{ name: 'app', password: 'secret' }],
    };
    const current = validateConfig(base);
    expect(diffConfig(current, validateConfig(base))).toEqual({ changed: [], needsRestart: [] });
    const fresh = validateConfig({
      ...base,
      listen: [{ host: '127.0.0.1', port: 7432 }],
      pool: { size: 5 },
      users: [{ name: 'app', password: 'rotated' }],
    });
    expect(diffConfig(current, fresh)).toEqual({ changed: ['users', 'pool'], needsRestart: ['listen'] });
  });
});
