// PgBouncer in transaction pooling mode in front of the primary, run from a private config as the service account.
import { join } from 'node:path';
import { findFreePort } from '../../demo/free-port.js';
import type { BenchCell } from '../bench-matrix.js';
import { isAtLeastVersion } from '../pooler-packages.js';
import type { ProcessSupervisor, ServiceHandle } from '../process-supervisor.js';
import { writeServiceFile } from '../service-account.js';
import {
  type StartedTarget,
  type TargetContext,
  type TargetEndpoint,
  TargetStartError,
} from './bench-target.js';
import { startReadyService } from './start-service.js';

export interface PgbouncerConfigInput {
  listenHost: string;
  listenPort: number;
  backendHost: string;
  backendPort: number;
  database: string;
  poolSize: number;
  maxClients: number;
  workDir: string;
  /** Only PgBouncer >= 1.21 knows max_prepared_statements; older versions refuse to start with it. */
  hasPreparedStatementSupport: boolean;
}

/** max_prepared_statements arrived in PgBouncer 1.21 (https://www.pgbouncer.org/changelog.html#pgbouncer-121x). */
const PREPARED_SINCE = [1, 21, 0];

/**
 * https://www.pgbouncer.org/config.html. auth_type scram-sha-256 with a plain-text userlist lets
 * PgBouncer both verify the client's SCRAM exchange and log in to PostgreSQL with SCRAM itself.
 * unix_socket_dir is empty so nothing lands in /var/run/postgresql.
 */
export function renderPgbouncerIni(input: PgbouncerConfigInput): string {
  return [
    '[databases]',
    `${input.database} = host=${input.backendHost} port=${input.backendPort} dbname=${input.database}`,
    '',
    '[pgbouncer]',
    `listen_addr = ${input.listenHost}`,
    `listen_port = ${input.listenPort}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${join(input.workDir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${input.poolSize}`,
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    `max_client_conn = ${Math.max(100, input.maxClients * 2)}`,
    `max_db_connections = ${input.poolSize}`,
    `pidfile = ${join(input.workDir, 'pgbouncer.pid')}`,
    // Logged to stderr, which the supervisor writes to the target's log file.
    'syslog = 0',
    'log_connections = 0',
    'log_disconnections = 0',
    'ignore_startup_parameters = extra_float_digits',
    ...(input.hasPreparedStatementSupport ? ['max_prepared_statements = 200'] : []),
    '',
  ].join('\n');
}

/** userlist.txt format: "username" "password" per line (https://www.pgbouncer.org/config.html#authentication-file-format). */
export function renderPgbouncerUserlist(user: { name: string; password: string }): string {
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${quote(user.name)} ${quote(user.password)}\n`;
}

export class PgbouncerTarget implements StartedTarget {
  readonly name = 'pgbouncer' as const;

  private constructor(
    readonly endpoint: TargetEndpoint,
    readonly version: string,
    readonly notes: string[],
    private readonly hasPreparedStatementSupport: boolean,
    private readonly service: ServiceHandle,
    private readonly supervisor: ProcessSupervisor,
  ) {}

  static async start(
    ctx: TargetContext,
    binary: { path: string; version: string; versionParts: number[] },
  ): Promise<PgbouncerTarget> {
    const primary = ctx.cluster.instances[0];
    if (!primary) throw new TargetStartError('pgbouncer', 'the cluster has no instances');
    const host = '127.0.0.1';
    const port = await findFreePort(host);
    const hasPreparedStatementSupport = isAtLeastVersion(binary.versionParts, PREPARED_SINCE);
    const iniPath = join(ctx.workDir, 'pgbouncer.ini');
    await writeServiceFile(
      iniPath,
      renderPgbouncerIni({
        listenHost: host,
        listenPort: port,
        backendHost: primary.host,
        backendPort: primary.port,
        database: ctx.cluster.database,
        poolSize: ctx.poolSize,
        maxClients: ctx.maxClients,
        workDir: ctx.workDir,
        hasPreparedStatementSupport,
      }),
      ctx.account,
    );
    await writeServiceFile(join(ctx.workDir, 'userlist.txt'), renderPgbouncerUserlist(ctx.user), ctx.account);
    // SIGINT is PgBouncer's "safe shutdown"; with no clients left it exits at once.
    const service = await startReadyService(
      ctx,
      'pgbouncer',
      {
        name: 'pgbouncer',
        command: binary.path,
        args: [iniPath],
        logFile: join(ctx.workDir, 'pgbouncer.log'),
        account: ctx.account,
        stopSignal: 'SIGINT',
      },
      { host, port },
      15_000,
    );
    const notes = [
      `pool_mode=transaction, default_pool_size=${ctx.poolSize}, all traffic to the primary (no read/write split)`,
      hasPreparedStatementSupport
        ? 'max_prepared_statements=200 (protocol-level prepared statements tracked across server connections)'
        : `${binary.version} predates max_prepared_statements (1.21): -M prepared cells are skipped`,
    ];
    return new PgbouncerTarget(
      { host, port },
      binary.version,
      notes,
      hasPreparedStatementSupport,
      service,
      ctx.supervisor,
    );
  }

  /**
   * Before 1.21 a statement prepared by one client lands on whichever server connection served it;
   * the next transaction may get another one. Measured here on 1.18: 14 of 16 clients aborted with
   * 'prepared statement "P_0" does not exist' within 3 s, so the number would be meaningless.
   */
  unsupportedReason(cell: BenchCell): string | undefined {
    if (cell.mode === 'prepared' && !this.hasPreparedStatementSupport) {
      return `${this.version} has no prepared-statement support in transaction mode (needs >= 1.21)`;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await this.supervisor.stop(this.service);
  }
}
