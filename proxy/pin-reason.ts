// Pure: whether a statement pins a transaction-pooled session to its server connection, and why.

import { PINNING, type StatementInfo } from './session-types.js';

/**
 * The pin reason `info` gives a session in transaction pooling, or null when the session can still
 * move between server connections. Session SETs with a known value, sent with the simple protocol,
 * are replayed on other servers; through the extended protocol, or with a value known only to the
 * server ($1, an expression), they pin.
 */
export function pinReasonFor(info: StatementInfo, isExtended: boolean): string | null {
  if (!info.pin) return null;
  if (info.pin !== 'session-set') return PINNING.has(info.pin) ? info.pin : null;
  const replayable = info.settings.some(
    (s) => !s.isLocal && s.value !== null && !s.name.startsWith('pgroute.'),
  );
  return isExtended || !replayable ? 'session-set' : null;
}
