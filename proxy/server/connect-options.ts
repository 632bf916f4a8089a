// How the proxy reaches a server (address, credentials, TLS, limits) and the errors of getting there.

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface ServerConnectOptions {
  host: string;
  port: number;
  user: string;
  password: string | null;
  database: string;
  connectTimeoutMs: number;
  sslmode: SslMode;
  ca?: Buffer | undefined;
  /** Extra startup parameters (the proxy sends none by default: client settings are applied per transaction). */
  params?: Record<string, string>;
  maxMessageSize: number;
}

export class ServerConnectError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** SQLSTATE when the server refused us with an ErrorResponse. */
    readonly sqlState: string | null = null,
    readonly severity: string | null = null,
  ) {
    super(message);
  }
}
