// Checks the bench's run order, option parsing and per-cell summary (ratios, statuses) on hand-made results.
import { describe, expect, it } from 'vitest';
import { buildCells, scheduleRuns } from '../../bench/bench-matrix.js';
import { BenchUsageError, parseBenchOptions, TARGET_NAMES, USAGE } from '../../bench/bench-options.js';
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

  it('runs both pgroute targets in turn with the others inside a cell', () => {
    const runs = scheduleRuns([CELL!], [...TARGET_NAMES], 1);
    expect(runs.map((r) => r.target)).toEqual(['direct', 'pgbouncer', 'pgroute', 'pgpool', 'pgroute-split']);
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

  it('benchmarks both the primary-only and the split pgroute by default', () => {
    const opts = parseBenchOptions([], DEFAULTS);
    expect(opts.targets.filter((t) => t.startsWith('pgroute'))).toEqual(['pgroute', 'pgroute-split']);
  });

  it('accepts pgroute-split as a target of its own', () => {
    const opts = parseBenchOptions(['--targets', 'pgroute-split,pgpool'], DEFAULTS);
    expect(opts.targets).toEqual(['pgroute-split', 'pgpool']);
  });

  it('names every target in the usage text', () => {
    const listed = /--targets LIST\s+comma list of (\S+)/.exec(USAGE)?.[1]?.split(',');
    expect(listed).toEqual([...TARGET_NAMES]);
  });

  it('takes the PgBouncer and Pgpool-II binaries from the command line when given', () => {
    const opts = parseBenchOptions(
      ['--pgbouncer-bin', '/opt/pgb/pgbouncer', '--pgpool-bin=/opt/pgpool'],
      DEFAULTS,
    );
    expect(opts.poolerBins).toEqual({ pgbouncer: '/opt/pgb/pgbouncer', pgpool: '/opt/pgpool' });
    expect(parseBenchOptions([], DEFAULTS).poolerBins).toEqual({});
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

  it('divides by the same cell on Pgpool-II for the vs pgpool ratio', () => {
    const rows = summarizeRuns([
      record('pgpool', 1, completed(2000)),
      record('pgroute-split', 1, completed(3000)),
      record('pgroute', 1, completed(1000)),
    ]);
    const ratios = Object.fromEntries(rows.map((r) => [r.target, r.vsPgpool]));
    expect(ratios).toEqual({ pgpool: 1, 'pgroute-split': 1.5, pgroute: 0.5 });
  });

  it('keeps the two pgroute targets as separate rows of the same cell', () => {
    const rows = summarizeRuns([
      record('pgroute', 1, completed(1200)),
      record('pgroute-split', 1, completed(800)),
      record('pgbouncer', 1, completed(1000)),
    ]);
    const pgroute = rows.filter((r) => r.target.startsWith('pgroute'));
    expect(pgroute.map((r) => [r.target, r.tps, r.vsPgbouncer])).toEqual([
      ['pgroute', 1200, 1.2],
      ['pgroute-split', 800, 0.8],
    ]);
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

  it('shows the vs pgpool ratio in its own table column', () => {
    const table = formatSummaryTable(
      summarizeRuns([record('pgpool', 1, completed(2000)), record('pgroute-split', 1, completed(2500))]),
    );
    expect(readColumn(table, 'pgroute-split', 'vs pgpool')).toBe('1.25x');
  });

  it('shows a dash under vs pgpool when Pgpool-II has no number for the cell', () => {
    const table = formatSummaryTable(
      summarizeRuns([
        record('pgpool', 1, { kind: 'skipped', reason: 'pgpool did not start' }),
        record('pgroute-split', 1, completed(2500)),
      ]),
    );
    expect(readColumn(table, 'pgroute-split', 'vs pgpool')).toBe('-');
  });

  it('gives the lowest and highest single-round ratio to PgBouncer, over rounds both completed', () => {
    const records = [
      record('pgbouncer', 1, completed(1000)),
      record('pgroute', 1, completed(800)),
      record('pgbouncer', 2, completed(2000)),
      record('pgroute', 2, completed(1200)),
      record('pgbouncer', 3, completed(1000)),
      record('pgroute', 3, completed(900)),
      record('pgbouncer', 4, { kind: 'skipped', reason: 'pgbouncer did not answer' }),
      record('pgroute', 4, completed(5000)),
    ];
    const rows = summarizeRuns(records);
    expect(rows.find((r) => r.target === 'pgroute')?.roundsVsPgbouncer).toEqual({ min: 0.6, max: 0.9 });
    const table = formatSummaryTable(rows);
    expect(readColumn(table, 'pgroute', 'rounds vs pgb')).toBe('0.60-0.90x');
    expect(readColumn(table, 'pgbouncer', 'rounds vs pgb')).toBe('1.00-1.00x');
    // One paired round says nothing about the spread.
    const single = summarizeRuns(records.slice(0, 2));
    expect(single.find((r) => r.target === 'pgroute')?.roundsVsPgbouncer).toBeUndefined();
    expect(readColumn(formatSummaryTable(single), 'pgroute', 'rounds vs pgb')).toBe('-');
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

/** The text of one column in the row of `target`, located by the header's character span. */
function readColumn(table: string, target: string, header: string): string | undefined {
  const [head, rule, ...body] = table.split('\n');
  const start = head!.indexOf(header);
  // The dashed rule under the headers gives each column's full width, numbers being right-aligned.
  const spans = [...rule!.matchAll(/-+/g)].map((m) => [m.index, m.index + m[0].length] as const);
  const span = spans.find(([from, to]) => start >= from && start < to);
  const row = body.find((line) => line.split(/\s+/)[1] === target);
  if (start < 0 || !span || !row) return undefined;
  return row.slice(span[0], span[1]).trim();
}
