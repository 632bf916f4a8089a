// Checks which cluster nodes each pgroute bench target is configured with and what its notes claim.
import { describe, expect, it } from 'vitest';
import {
  describePgrouteSetup,
  renderPgrouteConfig,
  selectPgrouteBackends,
} from '../../bench/targets/pgroute-target.js';
import type { LocalInstanceInfo } from '../../demo/local-cluster.js';

const INSTANCES: LocalInstanceInfo[] = [0, 1, 2].map((i) => ({
  name: `pg${i}`,
  host: `127.0.0.${50 + i}`,
  port: 5432,
  dataDir: `/tmp/pg${i}`,
}));

function renderHosts(backends: LocalInstanceInfo[]): string[] {
  const yaml = renderPgrouteConfig({
    listenHost: '127.0.0.1',
    listenPort: 6000,
    backends,
    user: { name: 'app', password: 'p"w' },
    poolSize: 20,
  });
  const lines = yaml.split('\n');
  const start = lines.indexOf('  hosts:') + 1;
  const end = lines.findIndex((line, i) => i >= start && !line.startsWith('    - '));
  return lines.slice(start, end).map((line) => JSON.parse(line.slice('    - '.length)) as string);
}

describe('selectPgrouteBackends', () => {
  it('gives the pgroute target the primary only, like PgBouncer', () => {
    expect(renderHosts(selectPgrouteBackends('pgroute', INSTANCES))).toEqual(['127.0.0.50:5432']);
  });

  it('gives the pgroute-split target the primary and every standby, like Pgpool-II', () => {
    expect(renderHosts(selectPgrouteBackends('pgroute-split', INSTANCES))).toEqual([
      '127.0.0.50:5432',
      '127.0.0.51:5432',
      '127.0.0.52:5432',
    ]);
  });
});

describe('describePgrouteSetup', () => {
  it('says the primary-only target is the proxy-overhead comparison', () => {
    expect(describePgrouteSetup('pgroute', 1, 20).join(' ')).toMatch(/primary only.*proxy-overhead/);
  });

  it('says the split target spreads reads over the standbys for comparison with pgpool', () => {
    expect(describePgrouteSetup('pgroute-split', 3, 20).join(' ')).toMatch(/over the 2 standbys.*pgpool/);
  });
});
