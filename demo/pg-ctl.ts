// Drives one data directory's server lifecycle with initdb, pg_basebackup and pg_ctl.
import { readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findPgBinaries, type PgBinaries } from './pg-binaries.js';
import type { PgCommandRunner } from './pg-command-runner.js';

/** Kept inside the data dir so the whole cluster lives (and is removed) under one base dir. */
export const SERVER_LOG_FILE = 'server.log';

export interface BaseBackupSource {
  host: string;
  port: number;
  user: string;
}

/**
 * Every wait is pg_ctl's own -w (it watches postmaster.pid for "ready"/removal), so a resolved
 * promise means the server really is up, down or promoted.
 * https://www.postgresql.org/docs/15/app-pg-ctl.html
 */
export class PgCtl {
  private binaries: PgBinaries | undefined;

  constructor(
    private readonly runner: PgCommandRunner,
    binaries?: PgBinaries,
  ) {
    this.binaries = binaries;
  }

  async initdb(dataDir: string, superuser: string): Promise<void> {
    await this.runner.run(this.bins().initdb, [
      ...['-D', dataDir, '-U', superuser, '--auth-local=trust', '--auth-host=scram-sha-256'],
      ...['--encoding=UTF8', '--locale=C', '--no-sync'],
    ]);
  }

  /** -R writes standby.signal + primary_conninfo; -c fast skips waiting for a spread checkpoint. */
  async baseBackup(source: BaseBackupSource, dataDir: string): Promise<void> {
    await this.runner.run(this.bins().pgBasebackup, [
      ...['-h', source.host, '-p', String(source.port), '-U', source.user, '-D', dataDir],
      ...['-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
    ]);
    // The copy carries the source's log; the new server starts its own.
    await rm(join(dataDir, SERVER_LOG_FILE), { force: true });
    // The local cluster keeps unix sockets in the data dir and pg_basebackup copies the source's
    // socket lock file (.s.PGSQL.<port>.lock); if this instance got the same port number on its own
    // address, postgres would refuse to start ("lock file already exists", held by the live source).
    for (const name of await readdir(dataDir)) {
      if (name.startsWith('.s.PGSQL.')) await rm(join(dataDir, name), { force: true });
    }
  }

  async start(dataDir: string): Promise<void> {
    const args = ['-D', dataDir, '-l', join(dataDir, SERVER_LOG_FILE), '-w', '-t', '60', 'start'];
    await this.withLogOnFailure(dataDir, () => this.runner.run(this.bins().pgCtl, args));
  }

  async stop(dataDir: string, mode: 'fast' | 'immediate'): Promise<void> {
    await this.runner.run(this.bins().pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async restart(dataDir: string): Promise<void> {
    const args = [
      '-D',
      dataDir,
      '-l',
      join(dataDir, SERVER_LOG_FILE),
      '-m',
      'fast',
      '-w',
      '-t',
      '60',
      'restart',
    ];
    await this.withLogOnFailure(dataDir, () => this.runner.run(this.bins().pgCtl, args));
  }

  async promote(dataDir: string): Promise<void> {
    await this.runner.run(this.bins().pgCtl, ['-D', dataDir, '-w', '-t', '60', 'promote']);
  }

  /** pg_ctl status exits 0 when a postmaster owns the data dir, 3 when none does. */
  async isRunning(dataDir: string): Promise<boolean> {
    const { exitCode } = await this.runner.exec(this.bins().pgCtl, ['-D', dataDir, 'status']);
    return exitCode === 0;
  }

  /** Teardown path: immediate stop, SIGKILL if pg_ctl cannot; never throws. Returns an error note, if any. */
  async stopQuietly(dataDir: string): Promise<string | undefined> {
    const pid = readPostmasterPid(dataDir);
    if (pid === undefined) return undefined;
    try {
      await this.runner.run(this.bins().pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop']);
      return undefined;
    } catch (err) {
      signalQuietly(pid, 'SIGKILL');
      return `pg_ctl stop failed, sent SIGKILL to ${pid}: ${String(err)}`;
    }
  }

  /**
   * For process 'exit' handlers, which cannot await. Falls back to SIGQUIT, the postmaster's own
   * immediate-shutdown request (https://www.postgresql.org/docs/15/server-shutdown.html).
   */
  stopSync(dataDir: string): void {
    const pid = readPostmasterPid(dataDir);
    if (pid === undefined) return;
    if (this.runner.runSync(this.bins().pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])) return;
    process.stderr.write(`local cluster: pg_ctl stop ${dataDir} failed at exit, sending SIGQUIT to ${pid}\n`);
    signalQuietly(pid, 'SIGQUIT');
  }

  /** pg_ctl only says "could not start server"; the reason is in the server log. */
  private async withLogOnFailure<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const tail = await readFile(join(dataDir, SERVER_LOG_FILE), 'utf8').then(
        (text) => text.split('\n').slice(-20).join('\n'),
        () => '(no server log)',
      );
      if (err instanceof Error) err.message += `\n--- ${join(dataDir, SERVER_LOG_FILE)} ---\n${tail}`;
      throw err;
    }
  }

  private bins(): PgBinaries {
    this.binaries ??= findPgBinaries();
    return this.binaries;
  }
}

function readPostmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(
      readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '',
      10,
    );
    return Number.isNaN(pid) ? undefined : pid;
  } catch {
    return undefined;
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
