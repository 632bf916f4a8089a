// Smooth weighted round robin over the instances eligible for a read (nginx's algorithm): even spread, no bursts.

const NO_WEIGHTS: Readonly<Record<string, number>> = Object.freeze({});

export class Balancer {
  private readonly current = new Map<string, number>();

  /**
   * Picks one of `candidates` (ids); `weights` by id, 1 when absent. With equal weights this is plain round robin in id order; a
   * weight of 2 gets twice the picks, interleaved. State is kept per id so candidates may come and go.
   */
  pick(candidates: readonly string[], weights: Readonly<Record<string, number>> = NO_WEIGHTS): string | null {
    if (candidates.length === 0) return null;
    if (candidates.length === 1) return candidates[0]!;
    let total = 0;
    let best: string | null = null;
    let bestWeight = Number.NEGATIVE_INFINITY;
    for (const id of candidates) {
      const w = weights[id] ?? 1;
      total += w;
      const cw = (this.current.get(id) ?? 0) + w;
      this.current.set(id, cw);
      if (cw > bestWeight) {
        bestWeight = cw;
        best = id;
      }
    }
    if (best === null) return null;
    this.current.set(best, bestWeight - total);
    return best;
  }

  /** Forget instances that left the topology. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.current.keys()) if (!ids.has(id)) this.current.delete(id);
  }
}
