// Prober: keeps one probing connection per instance and reports each round trip's result or failure.

import { InstanceProbe, type ProbeCredentials, type ProbeTarget } from './instance-probe.js';
import type { ProbeResult } from './probe-query.js';

export type { ProbeCredentials, ProbeTarget } from './instance-probe.js';

export interface ProberOptions extends ProbeCredentials {
  /** One round trip per instance per interval; default 250 ms. */
  intervalMs?: number;
  /** Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Default 1000 ms. */
  queryTimeoutMs?: number;
  /** Shows in pg_stat_activity; default 'pgroute-probe'. */
  applicationName?: string;
  /** See InstanceProbeOptions.onResult. */
  onResult: (id: string, result: ProbeResult, vouchesForHealth: boolean) => void;
  onFailure: (id: string, error: Error) => void;
}

export class Prober {
  private readonly probes = new Map<string, InstanceProbe>();
  private isRunning = false;

  constructor(private readonly options: ProberOptions) {}

  /** Adds probes for new targets and stops those of targets no longer listed. */
  setTargets(targets: readonly ProbeTarget[]): void {
    const wanted = new Map(targets.map((target) => [target.id, target]));
    for (const [id, probe] of this.probes) {
      const target = wanted.get(id);
      if (target !== undefined && target.host === probe.target.host && target.port === probe.target.port)
        continue;
      this.probes.delete(id);
      void probe.stop();
    }
    for (const target of wanted.values()) {
      if (this.probes.has(target.id)) continue;
      const probe = new InstanceProbe(target, {
        user: this.options.user,
        password: this.options.password,
        database: this.options.database,
        intervalMs: this.options.intervalMs ?? 250,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 1000,
        queryTimeoutMs: this.options.queryTimeoutMs ?? 1000,
        applicationName: this.options.applicationName ?? 'pgroute-probe',
        onResult: this.options.onResult,
        onFailure: this.options.onFailure,
      });
      this.probes.set(target.id, probe);
      if (this.isRunning) probe.start();
    }
  }

  targetIds(): string[] {
    return [...this.probes.keys()];
  }

  start(): void {
    this.isRunning = true;
    for (const probe of this.probes.values()) probe.start();
  }

  /** Probes one instance now; resolves once that probe reported. */
  probeNow(id: string): Promise<void> {
    return this.probes.get(id)?.probeNow() ?? Promise.resolve();
  }

  /** A data connection to the instance failed: probe it afresh (see InstanceProbe.probeAfterFailure). */
  probeAfterFailure(id: string): Promise<void> {
    return this.probes.get(id)?.probeAfterFailure() ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    const probes = [...this.probes.values()];
    this.probes.clear();
    await Promise.all(probes.map((probe) => probe.stop()));
  }
}
