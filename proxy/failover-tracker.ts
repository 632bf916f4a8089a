// Pure: turns topology snapshots and routed writes into failover/switchover counts and durations.

import type { TopologySnapshot } from '../discovery/topology-view.js';
import type { ProxyStats } from './stats.js';

/**
 * "Primary lost" is the first snapshot in which the known primary is no longer writable and serving;
 * the event ends at the first write routed to a different instance. Whether it was planned is read
 * from the old primary: an endpoint that was terminating (or a PAUSE) means a switchover.
 */
export class FailoverTracker {
  private primaryId: string | null = null;
  private lostAt: number | null = null;
  private wasPlanned = false;

  constructor(
    private readonly stats: ProxyStats,
    private readonly clock: () => number,
    private readonly isPaused: () => boolean,
  ) {}

  onTopology(s: TopologySnapshot): void {
    const writable = s.instances.find((i) => i.isWritable && i.isServing && i.health === 'up');
    if (writable && this.primaryId === null) {
      this.primaryId = writable.id;
      return;
    }
    if (this.primaryId === null || this.lostAt !== null) return;
    if (writable?.id === this.primaryId) return;
    const old = s.instances.find((i) => i.id === this.primaryId);
    this.lostAt = this.clock();
    this.wasPlanned = this.isPaused() || (old !== undefined && !old.isServing && old.health === 'up');
  }

  onPrimaryRouted(instanceId: string): void {
    if (this.lostAt === null || instanceId === this.primaryId) return;
    this.stats.lastFailoverSeconds = (this.clock() - this.lostAt) / 1000;
    if (this.wasPlanned) this.stats.switchovers++;
    else this.stats.failovers++;
    this.primaryId = instanceId;
    this.lostAt = null;
  }
}
