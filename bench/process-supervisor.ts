// Spawns and tracks every child process of a bench run so all of them die with it, even on error or Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { ServiceAccount } from './service-account.js';

export interface ServiceSpec {
  /** Short label used in messages. */
  name: string;
  command: string;
  args: string[];
  /** stdout+stderr go here, so a failed start can show the daemon's own words. */
  logFile: string;
  account?: ServiceAccount | undefined;
  env?: NodeJS.ProcessEnv;
  /** The signal that asks this daemon for a fast shutdown (differs per daemon). */
  stopSignal: NodeJS.Signals;
}

export interface ServiceHandle {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  isRunning(): boolean;
  /** Exit code, or the signal name when killed. */
  exitStatus(): string | undefined;
}

export interface BoundedRunSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

export type BoundedRunResult =
  | { kind: 'exited'; exitCode: number; stdout: string; stderr: string }
  | { kind: 'timed-out'; stdout: string; stderr: string }
  | { kind: 'spawn-failed'; reason: string };

interface Tracked {
  child: ChildProcess;
  stopSignal: NodeJS.Signals;
  exited: Promise<void>;
}

const STOP_GRACE_MS = 5_000;

/** A service was started after stopAll(): the run is being torn down. */
export class SupervisorClosedError extends Error {
  readonly code = 'SUPERVISOR_CLOSED';
  constructor(name: string) {
    super(`not starting ${name}: the bench is shutting down`);
    this.name = 'SupervisorClosedError';
  }
}

/**
 * Every child is spawned `detached`, i.e. as the leader of its own process group, so one
 * `kill(-pid)` also reaches the workers it forked (Pgpool-II forks num_init_children of them).
 */
export class ProcessSupervisor {
  private readonly tracked = new Set<Tracked>();
  private isClosed = false;

  /** Starts a long-running daemon in the foreground (no self-daemonizing) with its output in logFile. */
  startService(spec: ServiceSpec): ServiceHandle {
    if (this.isClosed) throw new SupervisorClosedError(spec.name);
    const fd = openSync(spec.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        cwd: '/',
        env: spec.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
        uid: spec.account?.uid,
        gid: spec.account?.gid,
      });
    } finally {
      closeSync(fd);
    }
    let status: string | undefined;
    this.track(child, spec.stopSignal);
    child.once('exit', (code, signal) => {
      status = code !== null ? `exit ${code}` : `signal ${signal}`;
    });
    child.once('error', (err) => {
      status = `spawn error: ${err.message}`;
    });
    return {
      name: spec.name,
      pid: child.pid ?? -1,
      logFile: spec.logFile,
      isRunning: () => status === undefined && child.pid !== undefined,
      exitStatus: () => status,
    };
  }

  /** Runs a short-lived command (pgbench, psql, apt-get) to completion, killing it at the deadline. */
  runBounded(spec: BoundedRunSpec): Promise<BoundedRunResult> {
    if (this.isClosed) return Promise.resolve({ kind: 'spawn-failed', reason: 'shutting down' });
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(spec.command, spec.args, {
          cwd: '/',
          env: spec.env ?? process.env,
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
      } catch (err) {
        resolve({ kind: 'spawn-failed', reason: String(err) });
        return;
      }
      const entry = this.track(child, 'SIGINT');
      let stdout = '';
      let stderr = '';
      let isTimedOut = false;
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      const timer = setTimeout(() => {
        isTimedOut = true;
        void this.stopTracked(entry);
      }, spec.timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        resolve({ kind: 'spawn-failed', reason: err.message });
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        if (isTimedOut) resolve({ kind: 'timed-out', stdout, stderr });
        else resolve({ kind: 'exited', exitCode: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Asks one service to stop, then kills its whole process group if it lingers. */
  async stop(handle: ServiceHandle): Promise<void> {
    for (const entry of this.tracked) {
      if (entry.child.pid === handle.pid) await this.stopTracked(entry);
    }
  }

  /** Stops everything still running and refuses new children from then on; safe to call more than once. */
  async stopAll(): Promise<void> {
    this.isClosed = true;
    await Promise.all([...this.tracked].map((entry) => this.stopTracked(entry)));
  }

  /** For process 'exit' handlers, which cannot await: SIGKILL every remaining group. */
  killAllSync(): void {
    for (const entry of this.tracked) signalGroup(entry.child, 'SIGKILL');
  }

  /** Last lines of a service's log, for error messages. */
  static readLogTail(logFile: string, lines = 15): string {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private track(child: ChildProcess, stopSignal: NodeJS.Signals): Tracked {
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const entry: Tracked = { child, stopSignal, exited };
    this.tracked.add(entry);
    void exited.then(() => this.tracked.delete(entry));
    return entry;
  }

  private async stopTracked(entry: Tracked): Promise<void> {
    if (entry.child.exitCode !== null || entry.child.signalCode !== null) return;
    signalGroup(entry.child, entry.stopSignal);
    const isGone = await Promise.race([
      entry.exited.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_GRACE_MS).unref()),
    ]);
    // The leader may be gone while forked workers linger; SIGKILL to the group is harmless then.
    signalGroup(entry.child, 'SIGKILL');
    if (!isGone) await entry.exited;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
