// A session's recent Parse messages, byte for byte, with the classification each one got.

import { RecentList } from '../router/recent-list.js';

/** Parse messages a session remembers at most. */
export const PARSE_MEMO_MAX = 16;

/** Their bytes together stay within this (a copy per session), and a longer one is not kept. */
export const PARSE_MEMO_BYTES = 4096;

interface Remembered<T> {
  msg: Buffer;
  result: T;
}

/**
 * Drivers send the same Parse again and again: pgbench -M extended and most drivers' unnamed
 * statements re-parse every query, and an application cycles through a few of them (TPC-B's seven).
 * Comparing bytes first skips decoding the text and looking it up in the shared cache. Most recently
 * matched first; a cycle longer than the capacity misses every time, as with any LRU, and then costs
 * one length comparison per entry.
 */
export class ParseMemo<T> {
  private readonly recent = new RecentList<Remembered<T>>(
    PARSE_MEMO_MAX,
    PARSE_MEMO_BYTES,
    (entry) => entry.msg.length,
  );
  /** The classifier's epoch the entries were classified in: a new one makes them all stale. */
  private epoch = -1;

  /** The result remembered for exactly these bytes, or null. */
  match(msg: { readonly length: number; equals(other: Buffer): boolean }, epoch: number): T | null {
    if (epoch !== this.epoch) return null;
    const entries = this.recent.items;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.msg.length !== msg.length || !msg.equals(e.msg)) continue;
      this.recent.promote(i);
      return e.result;
    }
    return null;
  }

  remember(msg: Buffer, result: T, epoch: number): void {
    if (epoch !== this.epoch) {
      this.recent.clear();
      this.epoch = epoch;
    }
    if (msg.length > PARSE_MEMO_BYTES) return;
    // A copy: a view would keep the whole read buffer it came from alive.
    this.recent.add({ msg: Buffer.from(msg), result });
  }

  get size(): number {
    return this.recent.size;
  }
}
