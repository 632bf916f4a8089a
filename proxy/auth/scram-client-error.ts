// Errors of the proxy's own SCRAM logins to PostgreSQL servers: one class per failure, each with a stable code.

/** Base class; `code` is stable for logs and metrics. */
export abstract class ScramClientError extends Error {
  abstract readonly code: string;
}

/** The server offered no SASL mechanism we can use, or not -PLUS while channel binding is required. */
export class ScramMechanismError extends ScramClientError {
  readonly code = 'SCRAM_NO_USABLE_MECHANISM';
}

/** A server message does not follow the RFC 5802 grammar. */
export class ScramServerMessageError extends ScramClientError {
  readonly code = 'SCRAM_MALFORMED_SERVER_MESSAGE';
}

/** The server nonce does not extend ours: the server (or someone in between) is not playing by the rules. */
export class ScramNonceMismatchError extends ScramClientError {
  readonly code = 'SCRAM_NONCE_MISMATCH';
}

/** The server could not prove it knows the password's ServerKey: it is not the server we think it is. */
export class ScramServerSignatureError extends ScramClientError {
  readonly code = 'SCRAM_SERVER_SIGNATURE_MISMATCH';
}

/** The server ended the exchange with an `e=` server-error attribute (RFC 5802 section 7). */
export class ScramServerRejectedError extends ScramClientError {
  readonly code = 'SCRAM_SERVER_REJECTED';

  constructor(readonly serverError: string) {
    super(`SCRAM exchange rejected by the server: ${serverError}`);
  }
}

/** A method was called out of order (e.g. handleServerFinal before handleServerFirst). */
export class ScramStateError extends ScramClientError {
  readonly code = 'SCRAM_OUT_OF_ORDER';
}
