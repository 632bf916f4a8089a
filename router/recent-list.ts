// A short list of a session's recent entries, most recently used first, bounded by count and bytes.

/**
 * The memory behind QueryShapes and ParseMemo. Callers scan `items` themselves (a loop over a plain
 * array, no callback per lookup on the hot path) and `promote` the one they used.
 */
export class RecentList<E> {
  readonly items: E[] = [];
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
    private readonly sizeOf: (entry: E) => number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /**
   * Move `items[i]` to the front and return it. A loop: Array.prototype.copyWithin is a generic
   * builtin, far slower here.
   */
  promote(i: number): E {
    const items = this.items;
    const entry = items[i]!;
    for (let j = i; j > 0; j--) items[j] = items[j - 1]!;
    items[0] = entry;
    return entry;
  }

  /**
   * Add `entry` at the front, dropping the least recently used ones until it fits; one larger than
   * the whole budget is not kept.
   */
  add(entry: E): void {
    const length = this.sizeOf(entry);
    if (length > this.maxBytes) return;
    const items = this.items;
    while (items.length > 0 && (items.length >= this.maxCount || this.bytes + length > this.maxBytes)) {
      this.bytes -= this.sizeOf(items.pop()!);
    }
    items.unshift(entry);
    this.bytes += length;
  }

  clear(): void {
    this.items.length = 0;
    this.bytes = 0;
  }
}
