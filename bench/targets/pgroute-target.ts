// pgroute itself: `node dist/bin/pgroute.js --config <yaml>` with transaction pooling over the whole cluster.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort } from '../../demo/free-port.js';
import type { LocalInstanceInfo } from '../../demo/local-cluster.js';
import type { BenchCell } from '../bench-matrix.js';
import type { ProcessSupervisor, ServiceHandle } from '../process-supervisor.js';
import { waitForReady } from '../wait-ready.js';
import {
  type StartedTarget,
  type TargetContext,
  type TargetEndpoint,
  TargetStartError,
} from './bench-target.js';

export interface PgrouteConfigInput {
  listenHost: string;
  listenPort: number;
  backends: LocalInstanceInfo[];
  user: { name: string; password: string };
  poolSize: number;
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
  readonly name = 'pgroute' as const;
  readonly version = 'pgroute (this checkout)';

  private constructor(
    readonly endpoint: TargetEndpoint,
    readonly notes: string[],
    private readonly service: ServiceHandle,
    private readonly supervisor: ProcessSupervisor,
  ) {}

  /** pgroute is our own Node process: it runs as the invoking user, no account switch needed. */
  static async start(ctx: TargetContext, entryPoint: string): Promise<PgrouteTarget> {
    if (!existsSync(entryPoint)) {
      throw new TargetStartError('pgroute', `${entryPoint} does not exist (build first: npm run build)`);
    }
    const host = '127.0.0.1';
    const port = await findFreePort(host);
    const configPath = join(ctx.workDir, 'pgroute.yaml');
    await writeFile(
      configPath,
      renderPgrouteConfig({
        listenHost: host,
        listenPort: port,
        backends: ctx.cluster.instances,
        user: ctx.user,
        poolSize: ctx.poolSize,
      }),
      { mode: 0o600 },
    );
    const service = ctx.supervisor.startService({
      name: 'pgroute',
      command: process.execPath,
      args: [entryPoint, '--config', configPath],
      logFile: join(ctx.workDir, 'pgroute.log'),
      stopSignal: 'SIGTERM',
    });
    const ready = await waitForReady(
      {
        host,
        port,
        user: ctx.user.name,
        password: ctx.user.password,
        database: ctx.cluster.database,
        psqlPath: ctx.psqlPath,
        timeoutMs: 20_000,
        service,
      },
      ctx.supervisor,
    );
    if (ready.kind === 'not-ready') {
      await ctx.supervisor.stop(service);
      throw new TargetStartError('pgroute', ready.reason);
    }
    const notes = [
      `pool.mode=transaction, pool.size=${ctx.poolSize}; listen mode auto: writes to the primary, ` +
        `reads spread over ${ctx.cluster.instances.length} nodes`,
    ];
    return new PgrouteTarget({ host, port }, notes, service, ctx.supervisor);
  }

  unsupportedReason(_cell: BenchCell): string | undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    await this.supervisor.stop(this.service);
  }
}
