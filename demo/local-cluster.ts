// Launches and controls a throwaway PostgreSQL primary + streaming standbys, one per loopback address.
import { rmSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { provisionAppDatabase } from './app-database.js';
import { retargetConninfo } from './conninfo.js';
import { findFreePort } from './free-port.js';
import {
  InvalidClusterOptionsError,
  NoSinglePrimaryError,
  UnknownInstanceError,
} from './local-cluster-errors.js';
import { type OrphanReaper, startOrphanReaper } from './orphan-reaper.js';
import { findPgBinaries } from './pg-binaries.js';
import { PgCommandRunner } from './pg-command-runner.js';
import { renderHbaConfig, renderInstanceConfig, renderServerConfig } from './pg-config-files.js';
import { PgCtl } from './pg-ctl.js';
import { pollUntil } from './poll-until.js';
import {
  readFlushedInsertLsn,
  readInstanceState,
  waitForStandbyReplay,
  withClient,
} from './replication-probes.js';

export {
  InvalidClusterOptionsError,
  NoSinglePrimaryError,
  UnknownInstanceError,
} from './local-cluster-errors.js';
export { ClusterTimeoutError } from './poll-until.js';

export interface LocalInstanceInfo {
  name: string;
  host: string;
  port: number;
  dataDir: string;
}

export interface LocalClusterDescriptor {
  baseDir: string;
  superuser: string;
  instances: LocalInstanceInfo[];
  users: {
    scram: { name: string; password: string };
    md5: { name: string; password: string };
    trust: { name: string };
  };
  database: string;
}

export interface LocalClusterOptions {
  baseDir?: string;
  /** Number of streaming standbys; default 2. */
  standbys?: number;
  /** Last octet of the primary's loopback address; default 2 (127.0.0.2, standbys .3, .4). */
  firstHost?: number;
  synchronous?: boolean;
  log?: (line: string) => void;
  /** Default 300. */
  maxConnections?: number;
}

export interface QueryOptions {
  /** Defaults to the descriptor's application database. */
  database?: string;
}

const SUPERUSER = 'postgres';
const INSTANCE_FILE = 'instance.conf';
const WAIT_MS = 30_000;
/** sun_path is 108 bytes including the NUL (https://www.postgresql.org/docs/15/runtime-config-connection.html). */
const MAX_SOCKET_PATH = 107;

export class LocalCluster {
  private destroying: Promise<void> | undefined;
  private exitHook: (() => void) | undefined;
  private reaper: OrphanReaper | undefined;

  private constructor(
    readonly descriptor: LocalClusterDescriptor,
    private readonly pgCtl: PgCtl,
    private readonly runner: PgCommandRunner,
    private readonly log: (line: string) => void,
  ) {}

  static async start(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
    const startedAt = Date.now();
    const standbyCount = opts.standbys ?? 2;
    const firstHost = opts.firstHost ?? 2;
    if (!Number.isInteger(standbyCount) || standbyCount < 0) {
      throw new InvalidClusterOptionsError(`standbys must be a non-negative integer, got ${standbyCount}`);
    }
    if (!Number.isInteger(firstHost) || firstHost < 1 || firstHost + standbyCount > 254) {
      throw new InvalidClusterOptionsError(
        `firstHost ${firstHost} + ${standbyCount} standbys leaves 127.0.0.0/8`,
      );
    }
    const binaries = findPgBinaries();
    const runner = PgCommandRunner.forCurrentProcess();
    const hosts = Array.from({ length: standbyCount + 1 }, (_, i) => `127.0.0.${firstHost + i}`);
    const ports = await Promise.all(hosts.map((host) => findFreePort(host)));
    // Short prefix: the unix socket path (baseDir/pgN/.s.PGSQL.port) must fit in 107 bytes.
    const baseDir = opts.baseDir ?? (await mkdtemp(join(tmpdir(), 'pgr-')));
    await mkdir(baseDir, { recursive: true });
    const descriptor: LocalClusterDescriptor = {
      baseDir,
      superuser: SUPERUSER,
      instances: hosts.map((host, i) => ({
        name: `pg${i}`,
        host,
        port: ports[i]!,
        dataDir: join(baseDir, `pg${i}`),
      })),
      users: {
        scram: { name: 'app', password: 'app-secret' },
        md5: { name: 'app_md5', password: 'md5-secret' },
        trust: { name: 'app_trust' },
      },
      database: 'app',
    };
    const cluster = new LocalCluster(descriptor, new PgCtl(runner, binaries), runner, opts.log ?? (() => {}));
    cluster.registerExitHook();
    cluster.reaper = startOrphanReaper({
      ownerPid: process.pid,
      baseDir,
      dataDirs: descriptor.instances.map((i) => i.dataDir),
      pgCtlPath: binaries.pgCtl,
      runner,
    });
    try {
      await runner.chownToServerUser(baseDir);
      await cluster.bootstrap(opts.synchronous ?? false, opts.maxConnections ?? 300);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    cluster.log(`local cluster ready in ${Date.now() - startedAt} ms (${baseDir})`);
    return cluster;
  }

  /** Controls a cluster started elsewhere (e.g. by vitest's globalSetup); does not own its lifetime. */
  static attach(descriptor: LocalClusterDescriptor): LocalCluster {
    const runner = PgCommandRunner.forCurrentProcess();
    return new LocalCluster(descriptor, new PgCtl(runner), runner, () => {});
  }

  instance(name: string): LocalInstanceInfo {
    const found = this.descriptor.instances.find((i) => i.name === name);
    if (!found) throw new UnknownInstanceError(name);
    return found;
  }

  /** Runs one statement as the superuser on a fresh connection (survives restarts between calls). */
  async query<T = Record<string, unknown>>(
    name: string,
    sql: string,
    params?: unknown[],
    opts: QueryOptions = {},
  ): Promise<T[]> {
    const database = opts.database ?? this.descriptor.database;
    return withClient(this.instance(name), SUPERUSER, database, async (client) => {
      const result = await client.query(sql, params);
      return result.rows as T[];
    });
  }

  async stop(name: string, mode: 'fast' | 'immediate'): Promise<void> {
    const inst = this.instance(name);
    if (!(await this.pgCtl.isRunning(inst.dataDir))) return;
    await this.pgCtl.stop(inst.dataDir, mode);
    this.log(`stopped ${name} (${mode})`);
  }

  async startInstance(name: string): Promise<void> {
    const inst = this.instance(name);
    if (await this.pgCtl.isRunning(inst.dataDir)) return;
    await this.pgCtl.start(inst.dataDir);
    this.log(`started ${name}`);
  }

  async restart(name: string): Promise<void> {
    await this.pgCtl.restart(this.instance(name).dataDir);
    this.log(`restarted ${name}`);
  }

  async promote(name: string): Promise<void> {
    const inst = this.instance(name);
    await this.pgCtl.promote(inst.dataDir);
    await pollUntil(
      `${name} to leave recovery`,
      async () => (await readInstanceState(inst, SUPERUSER)) === 'primary',
      {
        timeoutMs: WAIT_MS,
      },
    );
    this.log(`promoted ${name}`);
  }

  /**
   * primary_conninfo is reloadable since PG13: the startup process restarts the walreceiver with
   * the new value (https://www.postgresql.org/docs/15/runtime-config-replication.html#GUC-PRIMARY-CONNINFO).
   * recovery_target_timeline=latest lets it follow a promoted primary onto its new timeline.
   */
  async repoint(standby: string, newPrimary: string): Promise<void> {
    const standbyInst = this.instance(standby);
    const target = this.instance(newPrimary);
    const rows = await this.query<{ primary_conninfo: string }>(standby, 'SHOW primary_conninfo');
    const conninfo = retargetConninfo(
      rows[0]?.primary_conninfo ?? `user=${SUPERUSER}`,
      target.host,
      target.port,
    );
    await this.query(standby, `ALTER SYSTEM SET primary_conninfo = ${quoteLiteral(conninfo)}`);
    await this.query(standby, 'SELECT pg_reload_conf()');
    await pollUntil(
      `${standby} to stream from ${newPrimary}`,
      async () => {
        const receiver = await this.query<{ status: string; sender_host: string; sender_port: number }>(
          standby,
          'SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver',
        );
        const row = receiver[0];
        return (
          row?.status === 'streaming' && row.sender_host === target.host && row.sender_port === target.port
        );
      },
      { timeoutMs: WAIT_MS },
    );
    // Streaming alone may still be the old timeline's tail; replaying the new primary's current
    // position proves the timeline switch happened.
    await waitForStandbyReplay(
      standbyInst,
      SUPERUSER,
      await readFlushedInsertLsn(target, SUPERUSER),
      WAIT_MS,
    );
    this.log(`repointed ${standby} to ${newPrimary}`);
  }

  /** https://www.postgresql.org/docs/15/runtime-config-replication.html#GUC-RECOVERY-MIN-APPLY-DELAY */
  async setApplyDelay(name: string, ms: number): Promise<void> {
    if (!Number.isInteger(ms) || ms < 0)
      throw new InvalidClusterOptionsError(`apply delay must be an integer >= 0, got ${ms}`);
    await this.query(name, `ALTER SYSTEM SET recovery_min_apply_delay = '${ms}ms'`);
    await this.query(name, 'SELECT pg_reload_conf()');
    // pg_reload_conf() only signals; a new backend forks from the already-reloaded postmaster, and
    // the startup process was signalled at the same moment.
    await pollUntil(
      `${name} to apply recovery_min_apply_delay=${ms}`,
      async () => {
        const rows = await this.query<{ setting: string }>(
          name,
          `SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'`,
        );
        return rows[0]?.setting === String(ms);
      },
      { timeoutMs: WAIT_MS },
    );
  }

  /** Every running standby has replayed everything the (single) running primary had inserted. */
  async waitForReplay(): Promise<void> {
    const states = await Promise.all(
      this.descriptor.instances.map(async (i) => [i, await readInstanceState(i, SUPERUSER)] as const),
    );
    const primaries = states.filter(([, s]) => s === 'primary').map(([i]) => i);
    if (primaries.length !== 1) throw new NoSinglePrimaryError(primaries.map((i) => i.name));
    const lsn = await readFlushedInsertLsn(primaries[0]!, SUPERUSER);
    const standbys = states.filter(([, s]) => s === 'standby').map(([i]) => i);
    await Promise.all(standbys.map((s) => waitForStandbyReplay(s, SUPERUSER, lsn, WAIT_MS)));
  }

  /** Stops every instance (immediate) and removes baseDir. Idempotent; never throws. */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown().catch((err) => this.log(`teardown failed: ${String(err)}`));
    return this.destroying;
  }

  private async bootstrap(synchronous: boolean, maxConnections: number): Promise<void> {
    const [primary, ...standbys] = this.descriptor.instances;
    if (!primary) throw new InvalidClusterOptionsError('a cluster needs a primary');
    await this.pgCtl.initdb(primary.dataDir, SUPERUSER);
    this.log(`initdb ${primary.name} done`);
    const conf = renderServerConfig({ synchronous, maxConnections, instanceFile: INSTANCE_FILE });
    await appendFile(join(primary.dataDir, 'postgresql.conf'), conf);
    const { users } = this.descriptor;
    const hba = {
      trustUser: users.trust.name,
      md5User: users.md5.name,
      superuser: SUPERUSER,
      network: '127.0.0.0/8',
    };
    await writeFile(join(primary.dataDir, 'pg_hba.conf'), renderHbaConfig(hba));
    await this.writeInstanceFile(primary);
    await this.startServer(primary);
    // No standby exists yet: with synchronous_standby_names set, a normal commit would wait forever.
    const withLocalCommit = (db: string, fn: (client: pg.Client) => Promise<void>) =>
      withClient(primary, SUPERUSER, db, async (client) => {
        await client.query('SET synchronous_commit = local');
        await fn(client);
      });
    await withLocalCommit('postgres', (client) =>
      provisionAppDatabase(client, users, this.descriptor.database, withLocalCommit),
    );
    await Promise.all(standbys.map((s) => this.cloneStandby(primary, s)));
    await Promise.all(standbys.map((s) => this.startServer(s)));
    await pollUntil(
      `${standbys.length} standbys to stream from ${primary.name}`,
      async () => {
        const rows = await this.query<{ n: number }>(
          primary.name,
          `SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'`,
        );
        return rows[0]?.n === standbys.length;
      },
      { timeoutMs: WAIT_MS },
    );
  }

  private async cloneStandby(primary: LocalInstanceInfo, standby: LocalInstanceInfo): Promise<void> {
    await this.pgCtl.baseBackup({ host: primary.host, port: primary.port, user: SUPERUSER }, standby.dataDir);
    await this.writeInstanceFile(standby);
    this.log(`base backup ${standby.name} done`);
  }

  private async writeInstanceFile(inst: LocalInstanceInfo): Promise<void> {
    const socketPath = join(inst.dataDir, `.s.PGSQL.${inst.port}`);
    const socketDir = Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH ? inst.dataDir : '';
    const file = join(inst.dataDir, INSTANCE_FILE);
    await writeFile(
      file,
      renderInstanceConfig({ name: inst.name, host: inst.host, port: inst.port, socketDir }),
    );
    await chmod(file, 0o600);
    await this.runner.chownToServerUser(file);
  }

  private async startServer(inst: LocalInstanceInfo): Promise<void> {
    await this.pgCtl.start(inst.dataDir);
    this.log(`started ${inst.name} on ${inst.host}:${inst.port}`);
  }

  /** Synchronous because 'exit' handlers cannot await; a crashed test run must not leak postmasters. */
  private registerExitHook(): void {
    const hook = () => {
      for (const inst of this.descriptor.instances) this.pgCtl.stopSync(inst.dataDir);
      this.reaper?.dismiss();
      try {
        rmSync(this.descriptor.baseDir, { recursive: true, force: true });
      } catch {
        // best effort: a still-exiting server may recreate files while we delete
      }
    };
    this.exitHook = hook;
    process.on('exit', hook);
  }

  private async teardown(): Promise<void> {
    const notes = await Promise.all(this.descriptor.instances.map((i) => this.pgCtl.stopQuietly(i.dataDir)));
    for (const note of notes) if (note) this.log(note);
    try {
      await rm(this.descriptor.baseDir, { recursive: true, force: true });
    } catch (err) {
      this.log(`could not remove ${this.descriptor.baseDir}: ${String(err)}`);
    }
    if (this.exitHook) process.off('exit', this.exitHook);
    this.exitHook = undefined;
    this.reaper?.dismiss();
  }
}

/** Utility statements (ALTER SYSTEM) take no bind parameters, so values are quoted as SQL literals. */
function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
