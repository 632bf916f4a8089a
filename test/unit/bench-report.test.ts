// Checks the bench's run order, option parsing and per-cell summary (ratios, statuses) on hand-made results.
import { describe, expect, it } from 'vitest';
import { buildCells, scheduleRuns } from '../../bench/bench-matrix.js';
import { BenchUsageError, parseBenchOptions } from '../../bench/bench-options.js';
import { formatSummaryTable, type RunRecord, summarizeRuns } from '../../bench/bench-report.js';
import type { PgbenchResult } from '../../bench/pgbench.js';

const DEFAULTS = { outFile: '/tmp/out.json', pgrouteBin: '/x/pgroute.js' };
const [CELL] = buildCells({ scripts: ['select'], modes: ['simple'], clients: [16] });

function completed(
  tps: number,
  extra: Partial<Extract<PgbenchResult, { kind: 'completed' }>> = {},
): PgbenchResult {
  return {
    kind: 'completed',
    tps,
    latencyMs: 16_000 / tps,
    transactions: tps * 3,
    failedTransactions: 0,
    abortedClients: 0,
    isAborted: false,
    errorSample: [],
    ...extra,
  };
}

describe('scheduleRuns', () => {
  it('alternates every target inside a cell before repeating the round', () => {
    const runs = scheduleRuns([CELL!], ['direct', 'pgbouncer'], 2);
    expect(runs.map((r) => `${r.target}#${r.round}`)).toEqual([
      'direct#1',
      'pgbouncer#1',
      'direct#2',
      'pgbouncer#2',
    ]);
  });

  it('finishes one cell before starting the next', () => {
    const cells = buildCells({ scripts: ['select', 'tpcb'], modes: ['simple'], clients: [16] });
    const runs = scheduleRuns(cells, ['direct', 'pgpool'], 1);
    expect(runs.map((r) => r.cell.label)).toEqual([
      'select/simple/c16',
      'select/simple/c16',
      'tpcb/simple/c16',
      'tpcb/simple/c16',
    ]);
  });
});

describe('parseBenchOptions', () => {
  it('shortens runs to 3 s and keeps only the first client count with --quick', () => {
    const opts = parseBenchOptions(['--quick', '--clients', '32,64'], DEFAULTS);
    expect([opts.durationS, opts.clients]).toEqual([3, [32]]);
  });

  it('lets an explicit --duration win over --quick', () => {
    const opts = parseBenchOptions(['--duration=5', '--quick'], DEFAULTS);
    expect(opts.durationS).toBe(5);
  });

  it('rejects a target it does not know', () => {
    expect(() => parseBenchOptions(['--targets', 'direct,odyssey'], DEFAULTS)).toThrow(BenchUsageError);
  });
});

describe('summarizeRuns', () => {
  const record = (target: RunRecord['target'], round: number, outcome: RunRecord['outcome']): RunRecord => ({
    cell: CELL!,
    target,
    round,
    outcome,
  });

  it('averages tps over rounds and divides by the same cell on PgBouncer', () => {
    const rows = summarizeRuns([
      record('direct', 1, completed(3000)),
      record('pgbouncer', 1, completed(1000)),
      record('direct', 2, completed(5000)),
      record('pgbouncer', 2, completed(1000)),
    ]);
    const direct = rows.find((r) => r.target === 'direct');
    expect([direct?.tps, direct?.vsPgbouncer]).toEqual([4000, 4]);
  });

  it('marks a target with aborted clients as having errors, keeping the worst round', () => {
    const rows = summarizeRuns([
      record('pgbouncer', 1, completed(900, { abortedClients: 14, isAborted: true })),
      record('pgbouncer', 2, completed(1000, { abortedClients: 2, isAborted: true })),
    ]);
    expect([rows[0]?.status, rows[0]?.abortedClients]).toEqual(['errors', 14]);
  });

  it('leaves ratios empty when the reference target was skipped', () => {
    const rows = summarizeRuns([
      record('pgbouncer', 1, { kind: 'skipped', reason: 'no prepared statements' }),
      record('pgpool', 1, completed(700)),
    ]);
    expect(rows.find((r) => r.target === 'pgpool')?.vsPgbouncer).toBeUndefined();
  });

  it('prints a skip reason once as a numbered note however many rows share it', () => {
    const table = formatSummaryTable(
      summarizeRuns([
        record('pgroute', 1, { kind: 'skipped', reason: 'pgroute did not start' }),
        {
          cell: { ...CELL!, label: 'select/simple/c64', clients: 64 },
          target: 'pgroute',
          round: 1,
          outcome: { kind: 'skipped', reason: 'pgroute did not start' },
        },
      ]),
    );
    expect(table.split('\n').filter((line) => line.includes('pgroute did not start'))).toEqual([
      '[1] pgroute did not start',
    ]);
  });
});
