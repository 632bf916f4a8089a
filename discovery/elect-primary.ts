// Pure primary election: who of the probed instances may take writes, and why (or why nobody may).

import type { InstanceRole } from './topology-view.js';

export interface ElectionInput {
  id: string;
  /** Last probe succeeded and no failure has been reported since. */
  isUp: boolean;
  /** From the last successful probe; null when never probed. */
  isInRecovery: boolean | null;
  timeline: number | null;
  systemIdentifier: string | null;
  sourceRole: InstanceRole | null;
}

export type ElectionBasis = 'sole' | 'timeline' | 'source-hint';

export type Election =
  | { kind: 'elected'; primaryId: string; basis: ElectionBasis; detail: string }
  | { kind: 'none'; detail: string }
  | { kind: 'fenced'; candidateIds: string[]; detail: string };

/** An instance whose system identifier is known and differs from the cluster's never takes part. */
export function isForeignSystem(systemIdentifier: string | null, clusterSystemId: string | null): boolean {
  return systemIdentifier !== null && clusterSystemId !== null && systemIdentifier !== clusterSystemId;
}

/**
 * The system identifier more than half of the probed instances share, or null. Used only until a primary has
 * been confirmed: from then on the confirmed primary's identifier is the cluster's.
 */
export function findMajoritySystemIdentifier(inputs: readonly ElectionInput[]): string | null {
  const counts = new Map<string, number>();
  let known = 0;
  for (const input of inputs) {
    if (input.systemIdentifier === null) continue;
    known += 1;
    counts.set(input.systemIdentifier, (counts.get(input.systemIdentifier) ?? 0) + 1);
  }
  for (const [systemIdentifier, count] of counts) if (count * 2 > known) return systemIdentifier;
  return null;
}

/**
 * Primary = the one reachable instance that reports not-in-recovery. Two can (an old primary restarted without
 * being demoted, a split brain): promotion always starts a new timeline
 * (https://www.postgresql.org/docs/15/continuous-archiving.html#BACKUP-TIMELINES), so the higher timeline is the
 * newer primary; on equal timelines the orchestrator's word (Kubernetes -rw / instanceRole) decides; if that
 * does not single one out, nobody is writable until it is clear: two writable primaries would fork the data.
 */
export function electPrimary(
  inputs: readonly ElectionInput[],
  clusterSystemId: string | null,
  /** The highest timeline any instance of the cluster was ever seen on (null: none yet). */
  highestTimelineSeen: number | null = null,
): Election {
  const candidates = inputs.filter(
    (input) =>
      input.isUp &&
      input.isInRecovery === false &&
      !isForeignSystem(input.systemIdentifier, clusterSystemId) &&
      // A primary on an older timeline than the cluster has reached is a stale one (restarted without
      // being demoted): it must never be elected, even while the newer primary is briefly unreachable.
      !(highestTimelineSeen !== null && input.timeline !== null && input.timeline < highestTimelineSeen),
  );
  const [first] = candidates;
  if (first === undefined)
    return { kind: 'none', detail: 'no reachable instance reports not-in-recovery on the newest timeline' };
  if (candidates.length === 1)
    return { kind: 'elected', primaryId: first.id, basis: 'sole', detail: 'only primary' };

  const ids = candidates.map((candidate) => candidate.id);
  const systems = new Set(candidates.map((candidate) => candidate.systemIdentifier));
  if (clusterSystemId === null && systems.size > 1) {
    return {
      kind: 'fenced',
      candidateIds: ids,
      detail: `primaries ${ids.join(', ')} have different system identifiers`,
    };
  }

  const topTimeline = Math.max(...candidates.map((candidate) => candidate.timeline ?? -1));
  const newest = candidates.filter((candidate) => (candidate.timeline ?? -1) === topTimeline);
  const [newestFirst] = newest;
  if (newest.length === 1 && newestFirst !== undefined) {
    return {
      kind: 'elected',
      primaryId: newestFirst.id,
      basis: 'timeline',
      detail: `highest timeline ${topTimeline} among primaries ${ids.join(', ')}`,
    };
  }

  const hinted = newest.filter((candidate) => candidate.sourceRole === 'primary');
  const [hintedFirst] = hinted;
  if (hinted.length === 1 && hintedFirst !== undefined) {
    return {
      kind: 'elected',
      primaryId: hintedFirst.id,
      basis: 'source-hint',
      detail: `source names it primary among ${newest.map((c) => c.id).join(', ')} on timeline ${topTimeline}`,
    };
  }
  const tied = newest.map((candidate) => candidate.id);
  return {
    kind: 'fenced',
    candidateIds: tied,
    detail: `ambiguous: ${tied.join(', ')} all report not-in-recovery on timeline ${topTimeline} and sources do not single one out`,
  };
}
