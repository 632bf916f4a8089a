// How a session turns a failure to get or reach a server into the error its client sees, and whether to retry.

import { ProxyError, SqlState } from './errors.js';
import { ServerConnectError } from './server/connect-options.js';

/** Attempts to find a reachable server for a request that never reached one. */
export const MAX_CONNECT_RETRIES = 3;

/** A failure to reach the instance at all (as opposed to the server refusing us, e.g. 28P01). */
export function isUnreachable(err: unknown): boolean {
  if (!(err instanceof ServerConnectError)) return false;
  if (err.sqlState) return err.sqlState.startsWith('57P') || err.sqlState === '08006';
  return err.code !== 'SERVER_AUTH_NO_PASSWORD' && err.code !== 'SERVER_AUTH_PROTOCOL';
}

/** Any failure as a ProxyError of `severity`: a server's own SQLSTATE is kept, others become 08006 or XX000. */
export function asProxyError(err: unknown, severity: 'ERROR' | 'FATAL'): ProxyError {
  if (err instanceof ProxyError) {
    return err.severity === severity
      ? err
      : new ProxyError(err.code, err.sqlState, err.message, severity, err.detail, err.hint);
  }
  if (err instanceof ServerConnectError) {
    return new ProxyError(
      err.code,
      err.sqlState ?? SqlState.ConnectionFailure,
      err.sqlState ? err.message : `pgroute: ${err.message}`,
      severity,
    );
  }
  return new ProxyError('INTERNAL', SqlState.InternalError, `pgroute: ${(err as Error).message}`, severity);
}
