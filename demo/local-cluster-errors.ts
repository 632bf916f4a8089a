// Failure types LocalCluster raises, each with a stable `code`.

/** A name that is not pg0..pgN of this cluster. */
export class UnknownInstanceError extends Error {
  readonly code = 'UNKNOWN_INSTANCE';
  constructor(name: string) {
    super(`no instance named ${name} in this local cluster`);
    this.name = 'UnknownInstanceError';
  }
}

/** waitForReplay needs exactly one running, writable instance to measure against. */
export class NoSinglePrimaryError extends Error {
  readonly code = 'NO_SINGLE_PRIMARY';
  constructor(primaries: string[]) {
    super(`expected exactly one running primary, found ${primaries.length ? primaries.join(', ') : 'none'}`);
    this.name = 'NoSinglePrimaryError';
  }
}

/** Options are validated up front: a bad octet would otherwise surface as an obscure bind error. */
export class InvalidClusterOptionsError extends Error {
  readonly code = 'INVALID_CLUSTER_OPTIONS';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidClusterOptionsError';
  }
}
