// The generational cache: bounded, keeps what is used, forgets what is not.
import { describe, expect, it } from 'vitest';
import { GenerationalCache } from '../../router/generational-cache.js';

describe('GenerationalCache', () => {
  it('answers what it was given', () => {
    const c = new GenerationalCache<string, number>(4);
    c.set('a', 1);
    c.set('b', 2);
    expect([c.get('a'), c.get('b'), c.get('z')]).toEqual([1, 2, undefined]);
  });

  it('never holds more than its size', () => {
    const c = new GenerationalCache<number, number>(10);
    for (let i = 0; i < 1000; i++) c.set(i, i);
    expect(c.size).toBeLessThanOrEqual(10);
    expect(c.get(999)).toBe(999);
    expect(c.get(0)).toBeUndefined();
  });

  it('keeps an entry that is used while newer ones come and go', () => {
    const c = new GenerationalCache<string, number>(4);
    c.set('hot', 1);
    for (let i = 0; i < 100; i++) {
      c.set(`cold${i}`, i);
      expect(c.get('hot')).toBe(1);
    }
  });

  it('forgets the least recently used entry first', () => {
    const c = new GenerationalCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([undefined, 2, 3]);
  });

  it('is empty after clear', () => {
    const c = new GenerationalCache<string, number>(4);
    c.set('a', 1);
    c.clear();
    expect([c.get('a'), c.size]).toEqual([undefined, 0]);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new GenerationalCache(0)).toThrow(RangeError);
  });
});
