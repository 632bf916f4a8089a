// Baseline target: pgbench straight at the primary, one server backend per client, no pooler in the path.
import type { BenchCell } from '../bench-matrix.js';
import { waitForReady } from '../wait-ready.js';
import {
  type StartedTarget,
  type TargetContext,
  type TargetEndpoint,
  TargetStartError,
} from './bench-target.js';

export class DirectTarget implements StartedTarget {
  readonly name = 'direct' as const;
  readonly notes = [
    'no pooler: one PostgreSQL backend per pgbench client, all on the primary (reads are not spread to standbys)',
  ];

  private constructor(
    readonly endpoint: TargetEndpoint,
    readonly version: string,
  ) {}

  static async start(ctx: TargetContext): Promise<DirectTarget> {
    const primary = ctx.cluster.instances[0];
    if (!primary) throw new TargetStartError('direct', 'the cluster has no instances');
    const ready = await waitForReady(
      {
        host: primary.host,
        port: primary.port,
        user: ctx.user.name,
        password: ctx.user.password,
        database: ctx.cluster.database,
        psqlPath: ctx.psqlPath,
        timeoutMs: 10_000,
      },
      ctx.supervisor,
    );
    if (ready.kind === 'not-ready') throw new TargetStartError('direct', ready.reason);
    return new DirectTarget({ host: primary.host, port: primary.port }, 'PostgreSQL primary');
  }

  unsupportedReason(_cell: BenchCell): string | undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    // The cluster belongs to the session, not to this target.
  }
}
