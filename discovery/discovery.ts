// Discovery: composes endpoint sources, the prober and the pure topology into the TopologyView the proxy reads.

import type { EndpointSource } from './endpoint-source.js';
import { DiscoveryConfigError, TopologyWaitTimeoutError } from './errors.js';
import { Prober, type ProberOptions } from './probe.js';
import { Topology } from './topology.js';
import type { TopologySnapshot, TopologyView } from './topology-view.js';

export interface DiscoveryLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface DiscoveryOptions {
  sources: readonly EndpointSource[];
  probe: Omit<ProberOptions, 'onResult' | 'onFailure'>;
  /** ms epoch; default Date.now. */
  now?: () => number;
  failuresBeforeDown?: number;
  expectedSystemIdentifier?: string | null;
  logger?: DiscoveryLogger;
}

type Listener = (next: TopologySnapshot, prev: TopologySnapshot) => void;

export class Discovery implements TopologyView {
  private readonly topology: Topology;
  private readonly prober: Prober;
  private readonly listeners = new Set<Listener>();
  private isStarted = false;
  private previous: TopologySnapshot;

  constructor(private readonly options: DiscoveryOptions) {
    const sourceNames = options.sources.map((source) => source.name);
    if (new Set(sourceNames).size !== sourceNames.length) {
      throw new DiscoveryConfigError(`source names must be unique: ${sourceNames.join(', ')}`);
    }
    this.topology = new Topology({
      now: options.now ?? Date.now,
      failuresBeforeDown: options.failuresBeforeDown,
      expectedSystemIdentifier: options.expectedSystemIdentifier,
    });
    this.prober = new Prober({
      ...options.probe,
      onResult: (id, result, vouchesForHealth) =>
        this.publish(this.topology.applyProbeResult(id, result, vouchesForHealth)),
      onFailure: (id, error) => this.publish(this.topology.applyProbeFailure(id, error)),
    });
    this.previous = this.topology.current();
  }

  current(): TopologySnapshot {
    return this.topology.current();
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reportFailure(instanceId: string, reason: string): void {
    this.publish(this.topology.markSuspect(instanceId, reason));
    void this.prober.probeAfterFailure(instanceId);
  }

  /** Probes one instance now; resolves once its result is in the topology. */
  probeNow(instanceId: string): Promise<void> {
    return this.prober.probeNow(instanceId);
  }

  async start(): Promise<void> {
    if (this.isStarted) return;
    this.isStarted = true;
    this.prober.start();
    await Promise.all(
      this.options.sources.map((source) =>
        source.start((endpoints) => this.publish(this.topology.applySourceUpdate(source.name, endpoints))),
      ),
    );
  }

  async stop(): Promise<void> {
    if (!this.isStarted) return;
    this.isStarted = false;
    await Promise.all(this.options.sources.map((source) => source.stop()));
    await this.prober.stop();
  }

  /**
   * Resolves with the first snapshot (the current one included) that satisfies `predicate`; rejects after
   * `timeoutMs`. For startup ("wait for a primary") and tests.
   */
  waitFor(predicate: (snapshot: TopologySnapshot) => boolean, timeoutMs: number): Promise<TopologySnapshot> {
    const now = this.current();
    if (predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new TopologyWaitTimeoutError(timeoutMs, this.current().reason));
      }, timeoutMs);
      const unsubscribe = this.onChange((next) => {
        if (!predicate(next)) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(next);
      });
    });
  }

  private publish(next: TopologySnapshot | null): void {
    if (next === null) return;
    // Sources add and remove instances; the prober follows every snapshot's membership.
    this.prober.setTargets(this.topology.targets());
    const prev = this.previous;
    this.previous = next;
    const fields = { version: next.version, primaryId: next.primaryId };
    if (next.isLagOnly) this.options.logger?.debug(fields, next.reason);
    else this.options.logger?.info(fields, next.reason);
    for (const listener of [...this.listeners]) {
      try {
        listener(next, prev);
      } catch (error) {
        this.options.logger?.warn({ error }, 'topology listener threw');
      }
    }
  }
}
