// Expands options into benchmark cells and the run order that alternates targets inside each cell.
import type { TargetName } from './bench-options.js';
import type { BenchScript, QueryMode } from './pgbench.js';

export interface BenchCell {
  script: BenchScript;
  mode: QueryMode;
  clients: number;
  /** e.g. "select/prepared/c16"; stable key in the report and the JSON. */
  label: string;
}

export interface ScheduledRun {
  cell: BenchCell;
  target: TargetName;
  round: number;
}

export interface MatrixShape {
  scripts: BenchScript[];
  modes: QueryMode[];
  clients: number[];
}

export function buildCells(shape: MatrixShape): BenchCell[] {
  const cells: BenchCell[] = [];
  for (const script of shape.scripts) {
    for (const mode of shape.modes) {
      for (const clients of shape.clients) {
        cells.push({ script, mode, clients, label: `${script}/${mode}/c${clients}` });
      }
    }
  }
  return cells;
}

/**
 * Cell by cell; inside a cell the targets take turns (A B C D, A B C D, ...) once per round, so slow
 * drift of the machine (page cache, autovacuum, table bloat from TPC-B updates) hits every target
 * alike instead of whichever target happened to run last.
 */
export function scheduleRuns(cells: BenchCell[], targets: TargetName[], rounds: number): ScheduledRun[] {
  const runs: ScheduledRun[] = [];
  for (const cell of cells) {
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) runs.push({ cell, target, round });
    }
  }
  return runs;
}
