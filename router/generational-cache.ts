// A bounded cache that forgets the entries used least recently, with nothing to update on a hit.

/**
 * Two generations of at most max/2 entries each: new entries go to the young one; when it is full it
 * becomes the old one and the previous old generation is dropped. A hit in the old generation moves
 * the entry to the young one. Entries used at least once per max/2 insertions survive, the others go:
 * LRU in effect, at the cost of one or two Map lookups and no list to maintain on every hit (the
 * classifier answers one per statement).
 */
export class GenerationalCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generationSize: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`cache size must be a positive integer, got ${max}`);
    this.generationSize = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const aged = this.old.get(key);
    if (aged !== undefined) {
      this.old.delete(key);
      this.set(key, aged);
    }
    return aged;
  }

  set(key: K, value: V): void {
    if (!this.young.has(key) && this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
