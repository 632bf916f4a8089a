// SQLSTATEs the proxy itself reports, and the error class that carries one to the client.

import { errorResponse, type Severity } from './wire/backend-messages.js';

/** SQLSTATE codes from the PostgreSQL documentation, Appendix A. */
export const SqlState = {
  ConnectionException: '08000',
  ConnectionFailure: '08006',
  ProtocolViolation: '08P01',
  FeatureNotSupported: '0A000',
  InvalidParameterValue: '22023',
  InFailedSqlTransaction: '25P02',
  ReadOnlySqlTransaction: '25006',
  InvalidAuthorizationSpecification: '28000',
  InvalidPassword: '28P01',
  InvalidCatalogName: '3D000',
  TooManyConnections: '53300',
  ProgramLimitExceeded: '54000',
  QueryCanceled: '57014',
  AdminShutdown: '57P01',
  CrashShutdown: '57P02',
  CannotConnectNow: '57P03',
  InternalError: 'XX000',
} as const;
export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];

/** An error the proxy reports to a client as an ErrorResponse. `code` is stable for logs and metrics. */
export class ProxyError extends Error {
  constructor(
    readonly code: string,
    readonly sqlState: string,
    message: string,
    readonly severity: Severity = 'ERROR',
    readonly detail?: string,
    readonly hint?: string,
  ) {
    super(message);
  }

  toMessage(): Buffer {
    return errorResponse({
      severity: this.severity,
      code: this.sqlState,
      message: this.message,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
    });
  }
}

/** Error fields of a server ErrorResponse that the proxy needs (severity, SQLSTATE, message). */
export interface ServerErrorInfo {
  severity: string;
  code: string;
  message: string;
}

export function readErrorFields(msg: Buffer): ServerErrorInfo {
  const info: ServerErrorInfo = { severity: '', code: '', message: '' };
  let pos = 5;
  while (pos < msg.length) {
    const field = msg[pos]!;
    if (field === 0) break;
    const nul = msg.indexOf(0, pos + 1);
    if (nul < 0) break;
    const value = msg.toString('utf8', pos + 1, nul);
    if (field === 0x56 || (field === 0x53 && !info.severity)) info.severity = value;
    else if (field === 0x43) info.code = value;
    else if (field === 0x4d) info.message = value;
    pos = nul + 1;
  }
  return info;
}
