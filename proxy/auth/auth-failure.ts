// Why authenticating a client of the proxy failed: named reasons, each with the SQLSTATE PostgreSQL reports for it.

import { SqlState } from '../errors.js';

/**
 * Each reason maps to the SQLSTATE PostgreSQL's own auth code uses for it
 * (src/backend/libpq/auth-scram.c, auth.c), so clients see the same error classes
 * whether they talk to the proxy or to the server.
 */
export const AuthFailureSqlState = {
  /** A message that does not follow the RFC 5802 grammar, or an attribute with a bad value. */
  'malformed-message': SqlState.ProtocolViolation,
  /** The client picked a SASL mechanism that was not offered. */
  'invalid-mechanism': SqlState.ProtocolViolation,
  /** The final nonce is not the client nonce followed by the server nonce. */
  'nonce-mismatch': SqlState.ProtocolViolation,
  /** A SCRAM message arrived when the exchange did not expect one. */
  'unexpected-message': SqlState.ProtocolViolation,
  /** An authzid or a mandatory extension (`m=`), which PostgreSQL does not support. */
  'unsupported-feature': SqlState.FeatureNotSupported,
  /** The client sent `y`: it can bind but thinks we cannot, though we offered -PLUS (a downgrade). */
  'channel-binding-downgrade': SqlState.InvalidAuthorizationSpecification,
  /** The `c=` channel binding data does not match our certificate hash. */
  'channel-binding-mismatch': SqlState.InvalidAuthorizationSpecification,
  /** Wrong password (or a mock exchange for an unknown user). */
  'invalid-password': SqlState.InvalidPassword,
} as const;

export type AuthFailureReason = keyof typeof AuthFailureSqlState;

/** One failure: `reason` discriminates, `sqlState`/`message`/`detail` are what the client is sent. */
export type AuthFailure = {
  [R in AuthFailureReason]: {
    reason: R;
    sqlState: (typeof AuthFailureSqlState)[R];
    message: string;
    detail?: string;
  };
}[AuthFailureReason];

/** Builds an AuthFailure with the SQLSTATE that belongs to its reason. */
export function createAuthFailure<R extends AuthFailureReason>(
  reason: R,
  message: string,
  detail?: string,
): Extract<AuthFailure, { reason: R }> {
  const failure = { reason, sqlState: AuthFailureSqlState[reason], message, ...(detail ? { detail } : {}) };
  return failure as unknown as Extract<AuthFailure, { reason: R }>;
}
