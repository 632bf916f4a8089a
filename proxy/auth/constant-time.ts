// Constant-time comparison of secrets (proofs, signatures, md5 responses) of possibly different lengths.

import { timingSafeEqual } from 'node:crypto';

/**
 * True when `a` and `b` hold the same bytes. The time taken depends only on the length of `a`
 * (the expected value), never on where the first difference is, so an attacker probing with
 * guesses learns nothing from response timing. Unequal lengths still do a full comparison.
 */
export function isEqualConstantTime(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
