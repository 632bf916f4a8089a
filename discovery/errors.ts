// Error classes of the discovery layer, one per failure, each with a stable `code`.

export class LsnParseError extends Error {
  readonly code = 'ERR_PGROUTE_LSN_PARSE';
  constructor(readonly text: string) {
    super(`not a pg_lsn: ${JSON.stringify(text)}`);
    this.name = 'LsnParseError';
  }
}

export class InstanceAddressError extends Error {
  readonly code = 'ERR_PGROUTE_INSTANCE_ADDRESS';
  constructor(readonly text: string) {
    super(`not a host[:port] address: ${JSON.stringify(text)}`);
    this.name = 'InstanceAddressError';
  }
}

export class ProbeTimeoutError extends Error {
  readonly code = 'ERR_PGROUTE_PROBE_TIMEOUT';
  constructor(
    readonly instanceId: string,
    readonly phase: 'connect' | 'query',
    readonly timeoutMs: number,
  ) {
    super(`probe of ${instanceId}: ${phase} timed out after ${timeoutMs} ms`);
    this.name = 'ProbeTimeoutError';
  }
}

export class ProbeConnectionLostError extends Error {
  readonly code = 'ERR_PGROUTE_PROBE_CONNECTION_LOST';
  constructor(
    readonly instanceId: string,
    readonly detail: string,
  ) {
    super(`probe connection to ${instanceId} lost: ${detail}`);
    this.name = 'ProbeConnectionLostError';
  }
}

export class ProbeRowError extends Error {
  readonly code = 'ERR_PGROUTE_PROBE_ROW';
  constructor(readonly detail: string) {
    super(`unexpected probe row: ${detail}`);
    this.name = 'ProbeRowError';
  }
}

export class KubernetesApiError extends Error {
  readonly code = 'ERR_PGROUTE_KUBERNETES_API';
  constructor(
    readonly resource: string,
    readonly statusCode: number | null,
    detail: string,
  ) {
    super(`kubernetes ${resource}: ${detail}`);
    this.name = 'KubernetesApiError';
  }
}

export class KubernetesConfigError extends Error {
  readonly code = 'ERR_PGROUTE_KUBERNETES_CONFIG';
  constructor(detail: string) {
    super(`kubernetes config: ${detail}`);
    this.name = 'KubernetesConfigError';
  }
}

export class DiscoveryConfigError extends Error {
  readonly code = 'ERR_PGROUTE_DISCOVERY_CONFIG';
  constructor(detail: string) {
    super(`discovery config: ${detail}`);
    this.name = 'DiscoveryConfigError';
  }
}

export class TopologyWaitTimeoutError extends Error {
  readonly code = 'ERR_PGROUTE_TOPOLOGY_WAIT_TIMEOUT';
  constructor(
    readonly timeoutMs: number,
    readonly lastReason: string,
  ) {
    super(`topology condition not met within ${timeoutMs} ms; last change: ${lastReason}`);
    this.name = 'TopologyWaitTimeoutError';
  }
}
