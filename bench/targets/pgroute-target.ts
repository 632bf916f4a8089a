// pgroute itself: `node dist/bin/pgroute.js --config <yaml>` with transaction pooling, primary-only or read/write split.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort } from '../../demo/free-port.js';
import type { LocalInstanceInfo } from '../../demo/local-cluster.js';
import type { BenchCell } from '../bench-matrix.js';
import type { TargetName } from '../bench-options.js';
import type { ProcessSupervisor, ServiceHandle } from '../process-supervisor.js';
import {
  type StartedTarget,
  type TargetContext,
  type TargetEndpoint,
  TargetStartError,
} from './bench-target.js';
import { startReadyService } from './start-service.js';

export interface PgrouteConfigInput {
  listenHost: string;
  listenPort: number;
  backends: LocalInstanceInfo[];
  user: { name: string; password: string };
  poolSize: number;
}

export type PgrouteTargetName = Extract<TargetName, 'pgroute' | 'pgroute-split'>;

/**
 * `pgroute` gets only the primary (instances[0]), the same single backend as PgBouncer and `direct`, so
 * its row measures proxy overhead: with no standby, auto mode falls back to the primary for reads
 * (routing.fallbackToPrimary defaults to true). `pgroute-split` gets every node, as Pgpool-II does.
 */
export function selectPgrouteBackends(
  name: PgrouteTargetName,
  instances: LocalInstanceInfo[],
): LocalInstanceInfo[] {
  return name === 'pgroute' ? instances.slice(0, 1) : [...instances];
}

/** Facts a reader needs next to the numbers: which nodes served the traffic and what it compares with. */
export function describePgrouteSetup(name: PgrouteTargetName, nodeCount: number, poolSize: number): string[] {
  const pooling = `pool.mode=transaction, pool.size=${poolSize}, listen mode auto`;
  if (name === 'pgroute') {
    return [`${pooling}; primary only (same backend as pgbouncer and direct): the proxy-overhead comparison`];
  }
  return [
    `${pooling}; ${nodeCount} nodes: writes to the primary, reads round robin over the ` +
      `${nodeCount - 1} standbys (per transaction): the comparison with pgpool's load balancing`,
  ];
}

/** Double-quoted YAML scalars: JSON string escaping is valid YAML, so passwords need no hand-escaping. */
export function renderPgrouteConfig(input: PgrouteConfigInput): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'listen:',
    `  - host: ${q(input.listenHost)}`,
    `    port: ${input.listenPort}`,
    '    mode: auto',
    'cluster:',
    '  hosts:',
    ...input.backends.map((b) => `    - ${q(`${b.host}:${b.port}`)}`),
    'users:',
    `  - name: ${q(input.user.name)}`,
    `    password: ${q(input.user.password)}`,
    'pool:',
    '  mode: transaction',
    `  size: ${input.poolSize}`,
    '',
  ].join('\n');
}

export class PgrouteTarget implements StartedTarget {
  readonly version = 'pgroute (this checkout)';

  private constructor(
    readonly name: PgrouteTargetName,
    readonly endpoint: TargetEndpoint,
    readonly notes: string[],
    private readonly service: ServiceHandle,
    private readonly supervisor: ProcessSupervisor,
  ) {}

  /** pgroute is our own Node process: it runs as the invoking user, no account switch needed. */
  static async start(
    ctx: TargetContext,
    entryPoint: string,
    name: PgrouteTargetName,
  ): Promise<PgrouteTarget> {
    if (!existsSync(entryPoint)) {
      throw new TargetStartError(name, `${entryPoint} does not exist (build first: npm run build)`);
    }
    const backends = selectPgrouteBackends(name, ctx.cluster.instances);
    if (backends.length === 0) throw new TargetStartError(name, 'the cluster has no instances');
    const host = '127.0.0.1';
    const port = await findFreePort(host);
    const configPath = join(ctx.workDir, 'pgroute.yaml');
    await writeFile(
      configPath,
      renderPgrouteConfig({
        listenHost: host,
        listenPort: port,
        backends,
        user: ctx.user,
        poolSize: ctx.poolSize,
      }),
      { mode: 0o600 },
    );
    const service = await startReadyService(
      ctx,
      name,
      {
        name,
        command: process.execPath,
        args: [entryPoint, '--config', configPath],
        logFile: join(ctx.workDir, 'pgroute.log'),
        stopSignal: 'SIGTERM',
      },
      { host, port },
      20_000,
    );
    const notes = describePgrouteSetup(name, backends.length, ctx.poolSize);
    return new PgrouteTarget(name, { host, port }, notes, service, ctx.supervisor);
  }

  unsupportedReason(_cell: BenchCell): string | undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    await this.supervisor.stop(this.service);
  }
}
