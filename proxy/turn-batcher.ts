// Tells how busy the event loop is and, when it is busy, writes client replies once per loop turn.

/** A session with replies to write at the end of the turn. */
export interface TurnFlushable {
  flushTurn(): void;
}

/** Reads between two measured turns. */
const SAMPLE_EVERY = 16;
/** Measured turns averaged over: one burst does not flip the mode. */
const AVERAGE_OVER = 8;

/**
 * Where the measurement of reads per turn stands. A turn is measured whole, from its first read to
 * its end, so measuring needs a turn boundary first: the end of the turn in which the countdown ran
 * out. Only then does the next read start a measured turn.
 */
type Sampling = 'countdown' | 'boundary' | 'next-turn' | 'counting';

/**
 * One event-loop turn handles every socket epoll found ready. Under light load that is a few, and a
 * reply is best written at once. Under heavy load it is dozens: writing each reply as it is produced
 * wakes the client's process once per reply, while writing them all at the end of the turn (as Redis
 * does before it sleeps) lets a process with many connections (an application's pool, pgbench's
 * threads) collect them in one wakeup, and servers get their next requests first. Measured with
 * pgbench -S on 2 vCPUs: at 64 clients (about 30 reads per turn) batching gives about 10% more
 * transactions per second; at 16 clients (about 5) writing at once is faster. So the mode follows
 * the load.
 *
 * The end of a turn is a setImmediate callback (the check phase follows the poll phase that
 * delivered the reads). That costs a call into JavaScript per turn, too much to pay on every turn
 * under light load, so only one turn in a while is measured.
 */
export class TurnBatcher {
  private sampling: Sampling = 'countdown';
  private untilSample = SAMPLE_EVERY;
  /** Reads of the turn being measured. */
  private events = 0;
  /** Reads per measured turn, a moving average. */
  private average = 0;
  private isScheduled = false;
  private pending: TurnFlushable[] = [];
  /** Replies wait for the end of the turn (read by sessions before each flush). */
  isBusy = false;

  /**
   * @param busyAt average reads per turn from which replies are batched; batching stops again below
   *   half of it (hysteresis). 0 batches always (tests exercise the deferred path with it).
   * @param schedule runs a callback at the end of the current turn.
   */
  constructor(
    private readonly busyAt = 16,
    private readonly schedule: (fn: () => void) => unknown = setImmediate,
  ) {
    this.isBusy = busyAt === 0;
  }

  /** A socket read was handled in this turn. */
  noteRead(): void {
    switch (this.sampling) {
      case 'countdown':
        if (--this.untilSample > 0) return;
        this.sampling = 'boundary';
        break;
      case 'next-turn':
        this.sampling = 'counting';
        this.events = 1;
        break;
      case 'counting':
        this.events++;
        return;
      case 'boundary':
        return;
    }
    if (!this.isScheduled) this.scheduleEnd();
  }

  /** Call `f.flushTurn()` at the end of this turn. The caller avoids registering twice. */
  defer(f: TurnFlushable): void {
    this.pending.push(f);
    if (!this.isScheduled) this.scheduleEnd();
  }

  /** Reads per turn, averaged over the turns measured lately (the metric and tests). */
  get readsPerTurn(): number {
    return this.average;
  }

  private scheduleEnd(): void {
    this.isScheduled = true;
    this.schedule(this.endTurn);
  }

  private readonly endTurn = (): void => {
    this.isScheduled = false;
    if (this.sampling === 'boundary') this.sampling = 'next-turn';
    else if (this.sampling === 'counting') this.measured(this.events);
    if (this.pending.length === 0) return;
    // Flushing may defer again (a reply produced while flushing): that waits for the next turn.
    const pending = this.pending;
    this.pending = [];
    for (const f of pending) f.flushTurn();
  };

  private measured(reads: number): void {
    this.sampling = 'countdown';
    this.untilSample = SAMPLE_EVERY;
    this.average += (reads - this.average) / AVERAGE_OVER;
    if (this.busyAt === 0) return;
    if (this.average >= this.busyAt) this.isBusy = true;
    else if (this.average < this.busyAt / 2) this.isBusy = false;
  }
}
