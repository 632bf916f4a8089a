// Pgpool-II in streaming-replication mode with load balancing over primary + standbys, from a private config.
import { join } from 'node:path';
import { findFreePort } from '../../demo/free-port.js';
import type { LocalInstanceInfo } from '../../demo/local-cluster.js';
import type { BenchCell } from '../bench-matrix.js';
import { isAtLeastVersion } from '../pooler-packages.js';
import type { ProcessSupervisor, ServiceHandle } from '../process-supervisor.js';
import { writeServiceFile } from '../service-account.js';
import type { StartedTarget, TargetContext, TargetEndpoint } from './bench-target.js';
import { startReadyService } from './start-service.js';

export interface PgpoolConfigInput {
  listenHost: string;
  listenPort: number;
  pcpPort: number;
  backends: LocalInstanceInfo[];
  childProcesses: number;
  workDir: string;
  superuser: string;
  /** 4.4 renamed socket_dir/pcp_socket_dir to unix_socket_directories/pcp_unix_socket_directories. */
  hasUnixSocketDirectories: boolean;
}

const RENAMED_SOCKET_DIRS_SINCE = [4, 4, 0];

/**
 * https://www.pgpool.net/docs/43/en/html/runtime-config.html. Pgpool-II has no transaction pooling:
 * each of num_init_children processes serves one client session at a time and keeps max_pool=1
 * cached backend connection per node, so it needs a child per concurrent client. Health checks,
 * failover and the replication-delay check are off: the bench measures the data path only.
 */
export function renderPgpoolConf(input: PgpoolConfigInput): string {
  const dir = input.workDir;
  const socketLines = input.hasUnixSocketDirectories
    ? [`unix_socket_directories = '${dir}'`, `pcp_unix_socket_directories = '${dir}'`]
    : [`socket_dir = '${dir}'`, `pcp_socket_dir = '${dir}'`];
  const backendLines = input.backends.flatMap((b, i) => [
    `backend_hostname${i} = '${b.host}'`,
    `backend_port${i} = ${b.port}`,
    `backend_weight${i} = 1`,
    `backend_flag${i} = 'DISALLOW_TO_FAILOVER'`,
    `backend_application_name${i} = '${b.name}'`,
  ]);
  return [
    `backend_clustering_mode = 'streaming_replication'`,
    `listen_addresses = '${input.listenHost}'`,
    `port = ${input.listenPort}`,
    `pcp_listen_addresses = ''`,
    `pcp_port = ${input.pcpPort}`,
    ...socketLines,
    `wd_ipc_socket_dir = '${dir}'`,
    ...backendLines,
    'enable_pool_hba = on',
    `pool_passwd = 'pool_passwd'`,
    `num_init_children = ${input.childProcesses}`,
    'max_pool = 1',
    'connection_cache = on',
    'child_life_time = 0',
    'child_max_connections = 0',
    'connection_life_time = 0',
    'client_idle_limit = 0',
    'load_balance_mode = on',
    `disable_load_balance_on_write = 'transaction'`,
    'statement_level_load_balance = off',
    'sr_check_period = 0',
    `sr_check_user = '${input.superuser}'`,
    'health_check_period = 0',
    'failover_on_backend_error = off',
    'use_watchdog = off',
    'memory_cache_enabled = off',
    `log_destination = 'stderr'`,
    'logging_collector = off',
    `pid_file_name = '${join(dir, 'pgpool.pid')}'`,
    `logdir = '${dir}'`,
    '',
  ].join('\n');
}

/** Clients authenticate with SCRAM; pgpool needs the clear password to run SCRAM towards each backend too. */
export function renderPoolHba(listenHost: string): string {
  return `host all all ${listenHost}/32 scram-sha-256\n`;
}

/** "TEXT" prefix = clear-text entry (https://www.pgpool.net/docs/43/en/html/auth-methods.html). */
export function renderPoolPasswd(user: { name: string; password: string }): string {
  return `${user.name}:TEXT${user.password}\n`;
}

export class PgpoolTarget implements StartedTarget {
  readonly name = 'pgpool' as const;

  private constructor(
    readonly endpoint: TargetEndpoint,
    readonly version: string,
    readonly notes: string[],
    private readonly service: ServiceHandle,
    private readonly supervisor: ProcessSupervisor,
  ) {}

  static async start(
    ctx: TargetContext,
    binary: { path: string; version: string; versionParts: number[] },
  ): Promise<PgpoolTarget> {
    const host = '127.0.0.1';
    const [port, pcpPort] = [await findFreePort(host), await findFreePort(host)];
    // Two spare children so the readiness probe and a straggling client never queue behind pgbench.
    const childProcesses = ctx.maxClients + 2;
    const dir = ctx.workDir;
    await writeServiceFile(
      join(dir, 'pgpool.conf'),
      renderPgpoolConf({
        listenHost: host,
        listenPort: port,
        pcpPort,
        backends: ctx.cluster.instances,
        childProcesses,
        workDir: dir,
        superuser: ctx.cluster.superuser,
        hasUnixSocketDirectories: isAtLeastVersion(binary.versionParts, RENAMED_SOCKET_DIRS_SINCE),
      }),
      ctx.account,
    );
    await writeServiceFile(join(dir, 'pool_hba.conf'), renderPoolHba(host), ctx.account);
    await writeServiceFile(join(dir, 'pool_passwd'), renderPoolPasswd(ctx.user), ctx.account);
    await writeServiceFile(join(dir, 'pcp.conf'), '', ctx.account);
    // -n: stay in the foreground; -D: ignore any pgpool_status from an earlier run. SIGINT is "fast shutdown".
    const service = await startReadyService(
      ctx,
      'pgpool',
      {
        name: 'pgpool',
        command: binary.path,
        args: [
          '-n',
          '-D',
          '-f',
          join(dir, 'pgpool.conf'),
          '-a',
          join(dir, 'pool_hba.conf'),
          '-F',
          join(dir, 'pcp.conf'),
        ],
        logFile: join(dir, 'pgpool.log'),
        account: ctx.account,
        stopSignal: 'SIGINT',
      },
      { host, port },
      30_000,
    );
    const notes = [
      `no transaction pooling: session pooling with num_init_children=${childProcesses}, max_pool=1 ` +
        '(one cached backend connection per client process and node, not a shared pool of ' +
        `${ctx.poolSize})`,
      `load_balance_mode=on over ${ctx.cluster.instances.length} nodes (primary + standbys), ` +
        'session-level: each client session picks one read node',
    ];
    return new PgpoolTarget({ host, port }, binary.version, notes, service, ctx.supervisor);
  }

  unsupportedReason(_cell: BenchCell): string | undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    await this.supervisor.stop(this.service);
  }
}
