// Pure diff of two topology snapshots' instance lists into short human-readable change descriptions.

import type { InstanceState } from './topology-view.js';

/** Fields whose change alone does not make a new snapshot: they move with every probe. */
type VolatileField = 'lastProbeAt';

/** Fields that move continuously under write load; grouped into one "lag" entry. */
const PROGRESS_FIELDS = ['currentLsn', 'replayLsn', 'lagBytes', 'lagSeconds'] as const;

const STATE_FIELDS = [
  'role',
  'health',
  'isWritable',
  'isServing',
  'timeline',
  'systemIdentifier',
  'sourceRole',
  'isRefused',
  'isEligible',
  'lastError',
] as const satisfies readonly Exclude<keyof InstanceState, VolatileField>[];

export const LAG_UPDATED = 'lag updated';

export function describeChanges(
  prev: readonly InstanceState[],
  next: readonly InstanceState[],
  prevPrimaryId: string | null,
  nextPrimaryId: string | null,
  electionDetail: string,
): string[] {
  const changes: string[] = [];
  if (prevPrimaryId !== nextPrimaryId) {
    changes.push(
      nextPrimaryId === null
        ? `no writable primary (${electionDetail})`
        : `primary ${prevPrimaryId ?? 'none'} -> ${nextPrimaryId} (${electionDetail})`,
    );
  }
  const prevById = new Map(prev.map((state) => [state.id, state]));
  const nextIds = new Set(next.map((state) => state.id));
  for (const state of prev) if (!nextIds.has(state.id)) changes.push(`${state.id} removed`);
  let hasProgress = false;
  for (const state of next) {
    const before = prevById.get(state.id);
    if (before === undefined) {
      changes.push(`${state.id} added`);
      continue;
    }
    const fieldChanges = STATE_FIELDS.filter((field) => before[field] !== state[field]).map(
      (field) => `${field} ${formatValue(before[field])} -> ${formatValue(state[field])}`,
    );
    if (fieldChanges.length > 0) changes.push(`${state.id} ${fieldChanges.join(', ')}`);
    if (PROGRESS_FIELDS.some((field) => before[field] !== state[field])) hasProgress = true;
  }
  if (hasProgress) changes.push(LAG_UPDATED);
  return changes;
}

function formatValue(value: unknown): string {
  return value === null ? 'null' : String(value);
}
