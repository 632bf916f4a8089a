import { describe, expect, it } from 'vitest';
import { configKeyPaths } from '../../config.js';
import { LIVE_KEYS, RESTART_KEYS } from '../../main.js';

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
});
