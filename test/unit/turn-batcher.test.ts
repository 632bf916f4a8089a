// TurnBatcher: when replies wait for the end of the event-loop turn, and that they are then written once.

import { describe, expect, it } from 'vitest';
import { TurnBatcher, type TurnFlushable } from '../../proxy/turn-batcher.js';

/** A batcher whose turns end when the test says so. */
function manualTurns(busyAt: number) {
  const scheduled: (() => void)[] = [];
  const batcher = new TurnBatcher(busyAt, (fn) => scheduled.push(fn));
  const endTurn = (): void => {
    const fns = scheduled.splice(0);
    for (const fn of fns) fn();
  };
  const turn = (reads: number): void => {
    for (let i = 0; i < reads; i++) batcher.noteRead();
    endTurn();
  };
  /** `count` turns of `reads` reads each. */
  const turns = (count: number, reads: number): void => {
    for (let i = 0; i < count; i++) turn(reads);
  };
  return { batcher, scheduled, endTurn, turn, turns };
}

function counter(): TurnFlushable & { flushes: number } {
  return {
    flushes: 0,
    flushTurn() {
      this.flushes++;
    },
  };
}

describe('TurnBatcher', () => {
  it('measures one turn in a while, not every turn', () => {
    const { scheduled, batcher } = manualTurns(16);
    let hooks = 0;
    for (let i = 0; i < 160; i++) {
      for (let r = 0; r < 3; r++) batcher.noteRead();
      hooks += scheduled.length;
      for (const fn of scheduled.splice(0)) fn();
    }
    expect(hooks).toBeGreaterThan(0);
    expect(hooks).toBeLessThan(160 / 2);
  });

  it('counts a measured turn whole, from its first read to its end', () => {
    const { batcher, turns } = manualTurns(16);
    turns(400, 5);
    expect(batcher.readsPerTurn).toBeCloseTo(5, 1);
  });

  it('writes at once under light load and batches once turns hold many reads', () => {
    const { batcher, turns } = manualTurns(16);
    turns(100, 3);
    expect(batcher.isBusy).toBe(false);
    turns(100, 30);
    expect(batcher.isBusy).toBe(true);
  });

  it('is not flipped by one burst, wherever it falls', () => {
    for (let offset = 0; offset < 20; offset++) {
      const { batcher, turn, turns } = manualTurns(16);
      turns(60 + offset, 3);
      turn(100);
      turns(3, 3);
      expect(batcher.isBusy).toBe(false);
    }
  });

  it('leaves batching only well below the threshold (no flapping around it)', () => {
    const { batcher, turns } = manualTurns(16);
    turns(100, 30);
    expect(batcher.isBusy).toBe(true);
    turns(150, 12);
    expect(batcher.isBusy).toBe(true);
    turns(150, 2);
    expect(batcher.isBusy).toBe(false);
  });

  it('flushes each deferred session at the end of the turn, once', () => {
    const { batcher, scheduled, endTurn } = manualTurns(0);
    expect(batcher.isBusy).toBe(true);
    const a = counter();
    const b = counter();
    batcher.noteRead();
    batcher.defer(a);
    batcher.defer(b);
    expect(a.flushes + b.flushes).toBe(0);
    expect(scheduled).toHaveLength(1);
    endTurn();
    expect([a.flushes, b.flushes]).toEqual([1, 1]);
    endTurn();
    expect([a.flushes, b.flushes]).toEqual([1, 1]);
  });

  it('ends the turn for replies deferred outside any read (a timer, a promise)', () => {
    const { batcher, scheduled, endTurn } = manualTurns(0);
    const a = counter();
    batcher.defer(a);
    expect(scheduled).toHaveLength(1);
    endTurn();
    expect(a.flushes).toBe(1);
  });

  it('leaves a reply deferred while flushing to the next turn', () => {
    const { batcher, scheduled, endTurn } = manualTurns(0);
    const late = counter();
    const first: TurnFlushable = { flushTurn: () => batcher.defer(late) };
    batcher.defer(first);
    endTurn();
    expect(late.flushes).toBe(0);
    expect(scheduled).toHaveLength(1);
    endTurn();
    expect(late.flushes).toBe(1);
  });
});
