// What a source of instances (static list, Kubernetes) tells discovery, and the interface every source implements.

import type { InstanceRole } from './topology-view.js';

export interface SourceEndpoint {
  host: string;
  port: number;
  /** The source's opinion of the role (Kubernetes -rw endpoint / instanceRole label); null: no opinion. */
  roleHint: InstanceRole | null;
  /** May take new work: ready/serving and not terminating. */
  isServing: boolean;
}

/** Receives the source's complete current endpoint list each time it changes. */
export type EndpointSink = (endpoints: SourceEndpoint[]) => void;

export interface EndpointSource {
  /** Unique among the sources composed into one discovery. */
  readonly name: string;
  start(sink: EndpointSink): Promise<void>;
  stop(): Promise<void>;
}
