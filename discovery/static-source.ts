// A fixed list of "host[:port]" addresses as an endpoint source: no role hints, always serving.

import type { EndpointSink, EndpointSource, SourceEndpoint } from './endpoint-source.js';
import { DEFAULT_POSTGRES_PORT, parseInstanceAddress } from './instance-address.js';

export interface StaticSourceOptions {
  /** "host", "host:port", "[v6]:port". */
  hosts: readonly string[];
  defaultPort?: number;
  name?: string;
}

/** Parses and de-duplicates the list (throws InstanceAddressError on a malformed entry). */
export function mapStaticEndpoints(
  hosts: readonly string[],
  defaultPort = DEFAULT_POSTGRES_PORT,
): SourceEndpoint[] {
  const seen = new Set<string>();
  const endpoints: SourceEndpoint[] = [];
  for (const text of hosts) {
    const { host, port } = parseInstanceAddress(text, defaultPort);
    const key = `${host}|${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    endpoints.push({ host, port, roleHint: null, isServing: true });
  }
  return endpoints;
}

export class StaticSource implements EndpointSource {
  readonly name: string;
  private endpoints: SourceEndpoint[];
  private sink: EndpointSink | null = null;

  constructor(private readonly options: StaticSourceOptions) {
    this.name = options.name ?? 'static';
    // Parse up front so a bad config fails at startup, not at the first update.
    this.endpoints = mapStaticEndpoints(options.hosts, options.defaultPort);
  }

  async start(sink: EndpointSink): Promise<void> {
    this.sink = sink;
    sink(this.endpoints.map((endpoint) => ({ ...endpoint })));
  }

  /** A configuration reload changed the list: publish the new one (instances not in it leave). */
  update(hosts: readonly string[]): void {
    this.endpoints = mapStaticEndpoints(hosts, this.options.defaultPort);
    this.sink?.(this.endpoints.map((endpoint) => ({ ...endpoint })));
  }

  async stop(): Promise<void> {}
}
