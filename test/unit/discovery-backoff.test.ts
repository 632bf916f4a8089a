// Unit tests: exponential backoff for the Kubernetes watch loop.
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../discovery/kubernetes/backoff.js';

describe('Backoff', () => {
  it('doubles from 250 ms up to the 5 s cap by default', () => {
    const backoff = new Backoff();
    expect(Array.from({ length: 7 }, () => backoff.next())).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });

  it('starts over after a reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000 });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('never exceeds a cap below the initial delay', () => {
    expect(new Backoff({ initialMs: 500, maxMs: 200 }).next()).toBe(200);
  });
});
