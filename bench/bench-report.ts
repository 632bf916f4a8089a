// Folds per-run pgbench results into one row per (cell, target) with ratios, and renders the text table.
import type { BenchCell } from './bench-matrix.js';
import type { TargetName } from './bench-options.js';
import type { PgbenchResult } from './pgbench.js';

export type RunOutcome = PgbenchResult | { kind: 'skipped'; reason: string };

export interface RunRecord {
  cell: BenchCell;
  target: TargetName;
  round: number;
  outcome: RunOutcome;
}

export type SummaryStatus = 'ok' | 'errors' | 'failed' | 'skipped';

export interface CellSummary {
  cell: string;
  target: TargetName;
  status: SummaryStatus;
  /** Mean over the rounds that produced a summary. */
  tps: number | undefined;
  latencyMs: number | undefined;
  failedTransactions: number;
  /** Worst round: aborted clients are a property of the target, not noise to average away. */
  abortedClients: number;
  clients: number;
  roundsMeasured: number;
  /** Skip or failure reason, or a sample pgbench error. */
  detail: string | undefined;
  vsPgbouncer: number | undefined;
  vsDirect: number | undefined;
  /** Ratio to Pgpool-II's tps in the same cell: the reference for pgroute-split's read/write split. */
  vsPgpool: number | undefined;
  /**
   * Lowest and highest ratio to PgBouncer in a single round (each round's runs follow each other
   * closely): how far one round can be trusted on a noisy machine. Needs two paired rounds.
   */
  roundsVsPgbouncer: { min: number; max: number } | undefined;
}

export function summarizeRuns(records: RunRecord[]): CellSummary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const record of records) {
    const key = groupKey(record.cell.label, record.target);
    const group = groups.get(key) ?? [];
    group.push(record);
    groups.set(key, group);
  }
  const rows = [...groups.values()].map(summarizeGroup);
  for (const row of rows) {
    const peers = rows.filter((r) => r.cell === row.cell);
    row.vsPgbouncer = ratio(
      row,
      peers.find((r) => r.target === 'pgbouncer'),
    );
    row.vsDirect = ratio(
      row,
      peers.find((r) => r.target === 'direct'),
    );
    row.vsPgpool = ratio(
      row,
      peers.find((r) => r.target === 'pgpool'),
    );
    row.roundsVsPgbouncer = roundRange(
      groups.get(groupKey(row.cell, row.target))!,
      groups.get(groupKey(row.cell, 'pgbouncer')) ?? [],
    );
  }
  return rows;
}

/** One cell's runs of one target. */
function groupKey(cell: string, target: TargetName): string {
  return `${cell}\u0000${target}`;
}

/** Per-round ratios of a target to PgBouncer in one cell, over the rounds where both completed. */
function roundRange(runs: RunRecord[], pgbouncerRuns: RunRecord[]): { min: number; max: number } | undefined {
  const reference = new Map<number, number>();
  for (const r of pgbouncerRuns) if (r.outcome.kind === 'completed') reference.set(r.round, r.outcome.tps);
  const ratios: number[] = [];
  for (const r of runs) {
    if (r.outcome.kind !== 'completed') continue;
    const ref = reference.get(r.round);
    if (ref !== undefined && ref > 0) ratios.push(r.outcome.tps / ref);
  }
  return ratios.length < 2 ? undefined : { min: Math.min(...ratios), max: Math.max(...ratios) };
}

function summarizeGroup(group: RunRecord[]): CellSummary {
  const first = group[0]!;
  const completed = group.flatMap((r) => (r.outcome.kind === 'completed' ? [r.outcome] : []));
  const base = { cell: first.cell.label, target: first.target, clients: first.cell.clients };
  if (completed.length === 0) {
    const outcome = first.outcome;
    const isSkipped = outcome.kind === 'skipped';
    return {
      ...base,
      status: isSkipped ? 'skipped' : 'failed',
      tps: undefined,
      latencyMs: undefined,
      failedTransactions: 0,
      abortedClients: 0,
      roundsMeasured: 0,
      detail: 'reason' in outcome ? outcome.reason : undefined,
      vsPgbouncer: undefined,
      vsDirect: undefined,
      vsPgpool: undefined,
      roundsVsPgbouncer: undefined,
    };
  }
  const failedTransactions = completed.reduce((sum, r) => sum + r.failedTransactions, 0);
  const abortedClients = Math.max(...completed.map((r) => r.abortedClients));
  const hasErrors =
    failedTransactions > 0 ||
    abortedClients > 0 ||
    completed.some((r) => r.isAborted) ||
    completed.length < group.length;
  const missed = group.find((r) => r.outcome.kind !== 'completed')?.outcome;
  return {
    ...base,
    status: hasErrors ? 'errors' : 'ok',
    tps: mean(completed.map((r) => r.tps)),
    latencyMs: mean(completed.map((r) => r.latencyMs)),
    failedTransactions,
    abortedClients,
    roundsMeasured: completed.length,
    detail: missed && 'reason' in missed ? missed.reason : completed.flatMap((r) => r.errorSample)[0],
    vsPgbouncer: undefined,
    vsDirect: undefined,
    vsPgpool: undefined,
    roundsVsPgbouncer: undefined,
  };
}

function ratio(row: CellSummary, reference: CellSummary | undefined): number | undefined {
  if (!reference || reference.tps === undefined || row.tps === undefined || reference.tps === 0)
    return undefined;
  return row.tps / reference.tps;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

const HEADERS = [
  'cell',
  'target',
  'tps',
  'lat ms',
  'errors',
  'vs pgbouncer',
  'rounds vs pgb',
  'vs direct',
  'vs pgpool',
];

/** Fixed-width table; long reasons go to numbered notes under it so the columns stay readable. */
export function formatSummaryTable(rows: CellSummary[]): string {
  const notes: string[] = [];
  const cells = rows.map((row) => {
    let errors = describeErrors(row);
    if (row.detail && row.status !== 'ok') {
      const text = row.detail.split('\n')[0]!;
      if (!notes.includes(text)) notes.push(text);
      errors += ` [${notes.indexOf(text) + 1}]`;
    }
    return [
      row.cell,
      row.target,
      row.tps === undefined ? '-' : row.tps.toFixed(0),
      row.latencyMs === undefined ? '-' : row.latencyMs.toFixed(3),
      errors,
      formatRatio(row.vsPgbouncer),
      row.roundsVsPgbouncer === undefined
        ? '-'
        : `${row.roundsVsPgbouncer.min.toFixed(2)}-${row.roundsVsPgbouncer.max.toFixed(2)}x`,
      formatRatio(row.vsDirect),
      formatRatio(row.vsPgpool),
    ];
  });
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const isNumeric = (i: number) => i >= 2 && i !== 4;
  const line = (values: string[]) =>
    values
      .map((v, i) => (isNumeric(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  ')];
  let previousCell: string | undefined;
  for (let i = 0; i < cells.length; i++) {
    if (previousCell !== undefined && rows[i]!.cell !== previousCell) out.push('');
    previousCell = rows[i]!.cell;
    out.push(line(cells[i]!));
  }
  if (notes.length > 0) {
    out.push('');
    for (const [i, note] of notes.entries()) out.push(`[${i + 1}] ${note}`);
  }
  return out.join('\n');
}

function describeErrors(row: CellSummary): string {
  switch (row.status) {
    case 'skipped':
      return 'skipped';
    case 'failed':
      return 'FAILED';
    case 'ok':
      return '0';
    case 'errors': {
      const parts: string[] = [];
      if (row.failedTransactions > 0) parts.push(`${row.failedTransactions} failed tx`);
      if (row.abortedClients > 0) parts.push(`${row.abortedClients}/${row.clients} clients aborted`);
      return parts.length > 0 ? parts.join(', ') : 'incomplete';
    }
  }
}

function formatRatio(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(2)}x`;
}
