// The contract every benchmarked target (direct PostgreSQL, PgBouncer, Pgpool-II, pgroute, pgroute-split) fulfils.
import type { LocalClusterDescriptor } from '../../demo/local-cluster.js';
import type { BenchCell } from '../bench-matrix.js';
import type { TargetName } from '../bench-options.js';
import type { ProcessSupervisor } from '../process-supervisor.js';
import type { ServiceAccount } from '../service-account.js';

export interface TargetEndpoint {
  host: string;
  port: number;
}

/** What a target needs to start: the cluster, a private scratch dir and the shared process supervisor. */
export interface TargetContext {
  cluster: LocalClusterDescriptor;
  /** Private to this target; config, pid and log files go here. */
  workDir: string;
  supervisor: ProcessSupervisor;
  account: ServiceAccount | undefined;
  poolSize: number;
  /** Largest pgbench client count of the run (Pgpool-II needs a child process per client). */
  maxClients: number;
  psqlPath: string;
  /** Client credentials every target accepts (the cluster's SCRAM user). */
  user: { name: string; password: string };
  log: (line: string) => void;
}

export interface StartedTarget {
  readonly name: TargetName;
  readonly endpoint: TargetEndpoint;
  /** e.g. "PgBouncer 1.18.0"; recorded in the JSON so results stay attributable. */
  readonly version: string;
  /** Facts a reader needs to interpret this target's numbers (pooling model, load balancing). */
  readonly notes: string[];
  /** Why this target cannot run a cell, or undefined when it can. */
  unsupportedReason(cell: BenchCell): string | undefined;
  stop(): Promise<void>;
}

/** A target could not be brought up; the bench skips it and says why. */
export class TargetStartError extends Error {
  readonly code = 'TARGET_START_FAILED';
  constructor(
    readonly target: TargetName,
    reason: string,
  ) {
    super(`${target}: ${reason}`);
    this.name = 'TargetStartError';
  }
}
