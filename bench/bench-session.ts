// One bench run end to end: cluster, pgbench -i, targets up, alternating pgbench matrix, teardown.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '../demo/local-cluster.js';
import { findPgBinaries } from '../demo/pg-binaries.js';
import { type BenchCell, buildCells, scheduleRuns } from './bench-matrix.js';
import type { BenchOptions, TargetName } from './bench-options.js';
import { type CellSummary, type RunOutcome, type RunRecord, summarizeRuns } from './bench-report.js';
import { clientEnv, type PgbenchRunSpec, runPgbench } from './pgbench.js';
import { ensurePoolerBinaries, type PoolerBinary, type PoolerName } from './pooler-packages.js';
import type { ProcessSupervisor } from './process-supervisor.js';
import { giveToServiceAccount, resolveServiceAccount, type ServiceAccount } from './service-account.js';
import type { StartedTarget, TargetContext } from './targets/bench-target.js';
import { DirectTarget } from './targets/direct-target.js';
import { PgbouncerTarget } from './targets/pgbouncer-target.js';
import { PgpoolTarget } from './targets/pgpool-target.js';
import { PgrouteTarget } from './targets/pgroute-target.js';

export interface TargetReport {
  name: TargetName;
  status: 'started' | 'skipped';
  version?: string;
  endpoint?: string;
  notes: string[];
  reason?: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  environment: { node: string; cpus: number; postgres: string; pgbench: string };
  targets: TargetReport[];
  runs: RunRecord[];
  summary: CellSummary[];
}

export interface SessionDeps {
  supervisor: ProcessSupervisor;
  log: (line: string) => void;
  now: () => Date;
}

/** Ctrl-C (or SIGTERM) arrived; the session stops starting new work and tears down. */
export class BenchInterruptedError extends Error {
  readonly code = 'BENCH_INTERRUPTED';
  constructor() {
    super('bench interrupted');
    this.name = 'BenchInterruptedError';
  }
}

/** The primary octet 50 keeps the bench's cluster clear of the test suite's 127.0.0.2-4 and per-test ranges. */
const CLUSTER_FIRST_HOST = 50;
const INIT_TIMEOUT_MS = 15 * 60_000;

export class BenchSession {
  private cluster: LocalCluster | undefined;
  private workDir: string | undefined;
  private readonly started = new Map<TargetName, StartedTarget>();
  private isClosing = false;
  private cleaning: Promise<void> | undefined;

  constructor(
    private readonly opts: BenchOptions,
    private readonly deps: SessionDeps,
  ) {}

  async run(): Promise<BenchResults> {
    const startedAt = this.deps.now().toISOString();
    const { log, supervisor } = this.deps;
    const bins = findPgBinaries();
    const pgbenchPath = join(bins.binDir, 'pgbench');
    const psqlPath = join(bins.binDir, 'psql');
    const account = resolveServiceAccount();

    const poolers = await this.preparePoolers();
    this.checkInterrupted();
    this.workDir = await mkdtemp(join(tmpdir(), 'pgroute-bench-'));
    await giveToServiceAccount(this.workDir, account);

    log(`starting a local PostgreSQL cluster (primary + 2 standbys on 127.0.0.${CLUSTER_FIRST_HOST}-52)`);
    this.cluster = await LocalCluster.start({ firstHost: CLUSTER_FIRST_HOST, standbys: 2 });
    const cluster = this.cluster;
    const user = cluster.descriptor.users.scram;
    const primary = cluster.descriptor.instances[0]!;
    const postgres =
      (await cluster.query<{ v: string }>('pg0', 'SELECT current_setting($$server_version$$) AS v'))[0]?.v ??
      '?';
    this.checkInterrupted();

    log(`pgbench -i -s ${this.opts.scale} on ${primary.host}:${primary.port}`);
    const init = await supervisor.runBounded({
      command: pgbenchPath,
      args: [
        '-i',
        '-q',
        '-s',
        String(this.opts.scale),
        '-h',
        primary.host,
        '-p',
        String(primary.port),
        '-U',
        user.name,
        cluster.descriptor.database,
      ],
      env: clientEnv(user.password),
      timeoutMs: INIT_TIMEOUT_MS,
    });
    if (init.kind !== 'exited' || init.exitCode !== 0) {
      throw new Error(
        `pgbench -i failed: ${init.kind === 'spawn-failed' ? init.reason : init.stderr.trim()}`,
      );
    }
    await cluster.waitForReplay();
    const pgbenchVersion = await this.readPgbenchVersion(pgbenchPath);

    const context = (name: TargetName): Promise<TargetContext> =>
      this.targetContext(name, { account, psqlPath, user: { name: user.name, password: user.password } });
    const targetReports: TargetReport[] = [];
    for (const name of this.opts.targets) {
      this.checkInterrupted();
      targetReports.push(await this.startTarget(name, await context(name), poolers));
    }
    await this.warmUp(pgbenchPath, user);
    const runs = await this.runMatrix(pgbenchPath, user);
    return {
      startedAt,
      finishedAt: this.deps.now().toISOString(),
      options: this.opts,
      environment: { node: process.version, cpus: cpus().length, postgres, pgbench: pgbenchVersion },
      targets: targetReports,
      runs,
      summary: summarizeRuns(runs),
    };
  }

  /** Idempotent; safe to call from a signal handler while run() is still awaiting something. */
  cleanup(): Promise<void> {
    this.isClosing = true;
    this.cleaning ??= this.teardown();
    return this.cleaning;
  }

  private async teardown(): Promise<void> {
    for (const target of this.started.values()) await target.stop().catch(() => undefined);
    await this.deps.supervisor.stopAll();
    if (this.cluster) await this.cluster.destroy();
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true }).catch(() => undefined);
  }

  private async preparePoolers(): Promise<Map<PoolerName, PoolerBinary>> {
    const wanted = this.opts.targets.filter((t): t is PoolerName => t === 'pgbouncer' || t === 'pgpool');
    if (wanted.length === 0) return new Map();
    return ensurePoolerBinaries(wanted, {
      supervisor: this.deps.supervisor,
      canInstall: this.opts.canInstall,
      overrides: this.opts.poolerBins,
      log: this.deps.log,
    });
  }

  private async targetContext(
    name: TargetName,
    shared: {
      account: ServiceAccount | undefined;
      psqlPath: string;
      user: { name: string; password: string };
    },
  ): Promise<TargetContext> {
    const workDir = join(this.workDir!, name);
    await mkdir(workDir, { recursive: true });
    await giveToServiceAccount(workDir, shared.account);
    return {
      cluster: this.cluster!.descriptor,
      workDir,
      supervisor: this.deps.supervisor,
      account: shared.account,
      poolSize: this.opts.poolSize,
      maxClients: Math.max(...this.opts.clients),
      psqlPath: shared.psqlPath,
      user: shared.user,
      log: this.deps.log,
    };
  }

  /** A target that cannot start is reported and skipped; the others still run. */
  private async startTarget(
    name: TargetName,
    ctx: TargetContext,
    poolers: Map<PoolerName, PoolerBinary>,
  ): Promise<TargetReport> {
    try {
      const target = await this.launch(name, ctx, poolers);
      this.started.set(name, target);
      const endpoint = `${target.endpoint.host}:${target.endpoint.port}`;
      this.deps.log(`${name}: ready on ${endpoint} (${target.version})`);
      for (const note of target.notes) this.deps.log(`  ${name}: ${note}`);
      return { name, status: 'started', version: target.version, endpoint, notes: target.notes };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.deps.log(`${name}: SKIPPED, could not start: ${reason}`);
      return { name, status: 'skipped', notes: [], reason };
    }
  }

  private launch(
    name: TargetName,
    ctx: TargetContext,
    poolers: Map<PoolerName, PoolerBinary>,
  ): Promise<StartedTarget> {
    switch (name) {
      case 'direct':
        return DirectTarget.start(ctx);
      case 'pgroute':
      case 'pgroute-split':
        return PgrouteTarget.start(ctx, this.opts.pgrouteBin, name);
      case 'pgbouncer':
      case 'pgpool': {
        const binary = poolers.get(name);
        if (!binary || binary.kind === 'missing') {
          return Promise.reject(new Error(binary?.reason ?? `${name} binary not resolved`));
        }
        return name === 'pgbouncer' ? PgbouncerTarget.start(ctx, binary) : PgpoolTarget.start(ctx, binary);
      }
    }
  }

  /**
   * Untimed select-only bursts at full client count, one per query protocol of the matrix: they fill
   * PgBouncer/pgroute pools and Pgpool-II's connection cache, and run each protocol's code path
   * before it is measured (pgroute's is compiled by V8 while it runs; the C poolers need no such
   * start, and get the same bursts).
   */
  private async warmUp(pgbenchPath: string, user: { name: string; password: string }): Promise<void> {
    if (this.opts.warmupS === 0) return;
    for (const target of this.started.values()) {
      for (const mode of this.opts.modes) {
        this.checkInterrupted();
        const cell: BenchCell = {
          script: 'select',
          mode,
          clients: Math.max(...this.opts.clients),
          label: `warmup/${mode}`,
        };
        if (target.unsupportedReason(cell)) continue;
        await runPgbench(this.spec(pgbenchPath, user, target, cell, this.opts.warmupS), this.deps.supervisor);
      }
    }
    this.deps.log(`warm-up done (${this.opts.warmupS} s per target and protocol)`);
  }

  private async runMatrix(
    pgbenchPath: string,
    user: { name: string; password: string },
  ): Promise<RunRecord[]> {
    const cells = buildCells(this.opts);
    const schedule = scheduleRuns(cells, this.opts.targets, this.opts.rounds);
    const records: RunRecord[] = [];
    const width = String(schedule.length).length;
    for (const [index, run] of schedule.entries()) {
      this.checkInterrupted();
      const outcome = await this.runOne(run.cell, run.target, pgbenchPath, user);
      // A run cut short by Ctrl-C is not a measurement.
      this.checkInterrupted();
      records.push({ ...run, outcome });
      const position = `[${String(index + 1).padStart(width)}/${schedule.length}]`;
      this.deps.log(
        `${position} ${run.cell.label} ${run.target} round ${run.round}: ${describeOutcome(outcome)}`,
      );
    }
    return records;
  }

  private async runOne(
    cell: BenchCell,
    name: TargetName,
    pgbenchPath: string,
    user: { name: string; password: string },
  ): Promise<RunOutcome> {
    const target = this.started.get(name);
    if (!target) return { kind: 'skipped', reason: `${name} did not start` };
    const unsupported = target.unsupportedReason(cell);
    if (unsupported) return { kind: 'skipped', reason: unsupported };
    if (cell.script === 'tpcb') await this.resetTpcbTables();
    return runPgbench(this.spec(pgbenchPath, user, target, cell, this.opts.durationS), this.deps.supervisor);
  }

  /** What pgbench's own pre-run step does (it runs with -n here), done directly on the primary for every target alike. */
  private async resetTpcbTables(): Promise<void> {
    const cluster = this.cluster!;
    await cluster.query('pg0', 'VACUUM pgbench_branches');
    await cluster.query('pg0', 'VACUUM pgbench_tellers');
    await cluster.query('pg0', 'TRUNCATE pgbench_history');
  }

  private spec(
    pgbenchPath: string,
    user: { name: string; password: string },
    target: StartedTarget,
    cell: BenchCell,
    durationS: number,
  ): PgbenchRunSpec {
    return {
      pgbenchPath,
      host: target.endpoint.host,
      port: target.endpoint.port,
      user: user.name,
      password: user.password,
      database: this.cluster!.descriptor.database,
      script: cell.script,
      mode: cell.mode,
      clients: cell.clients,
      threads: this.opts.threads,
      durationS,
    };
  }

  private async readPgbenchVersion(pgbenchPath: string): Promise<string> {
    const result = await this.deps.supervisor.runBounded({
      command: pgbenchPath,
      args: ['--version'],
      timeoutMs: 5_000,
    });
    return result.kind === 'exited' ? result.stdout.trim() : 'unknown';
  }

  private checkInterrupted(): void {
    if (this.isClosing) throw new BenchInterruptedError();
  }
}

function describeOutcome(outcome: RunOutcome): string {
  switch (outcome.kind) {
    case 'completed': {
      const errors = outcome.failedTransactions + outcome.abortedClients;
      const suffix =
        errors > 0 || outcome.isAborted
          ? `, ${outcome.failedTransactions} failed tx, ${outcome.abortedClients} clients aborted`
          : '';
      return `${outcome.tps.toFixed(0)} tps, ${outcome.latencyMs.toFixed(3)} ms${suffix}`;
    }
    case 'skipped':
      return `skipped (${outcome.reason})`;
    case 'failed':
    case 'timed-out':
      return `${outcome.kind.toUpperCase()}: ${outcome.reason.split('\n')[0]}`;
  }
}
