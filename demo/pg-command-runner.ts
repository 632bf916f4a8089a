// Runs PostgreSQL client/server binaries as the OS user that owns the data dirs (postgres when we are root).
import { spawn, spawnSync } from 'node:child_process';
import { chown } from 'node:fs/promises';

/** A PostgreSQL binary exited non-zero (or could not be spawned). */
export class PgCommandError extends Error {
  readonly code = 'PG_COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${output.trim().slice(-2000)}`);
    this.name = 'PgCommandError';
  }
}

interface OsAccount {
  name: string;
  uid: number;
  gid: number;
}

/**
 * The postmaster refuses to run as root ("root execution of the PostgreSQL server is not
 * permitted"), so as root every binary goes through `runuser -u postgres --`; otherwise it runs as us.
 */
export class PgCommandRunner {
  private constructor(private readonly account: OsAccount | undefined) {}

  static forCurrentProcess(osUser = 'postgres'): PgCommandRunner {
    if (process.getuid?.() !== 0) return new PgCommandRunner(undefined);
    return new PgCommandRunner({ name: osUser, uid: readId(osUser, '-u'), gid: readId(osUser, '-g') });
  }

  /** Gives `path` to the account the servers run as (no-op when not root). */
  async chownToServerUser(path: string): Promise<void> {
    if (this.account) await chown(path, this.account.uid, this.account.gid);
  }

  /** Resolves with the combined output; rejects with PgCommandError on a non-zero exit. */
  async run(binary: string, args: string[]): Promise<string> {
    const result = await this.exec(binary, args);
    if (result.exitCode === 0) return result.output;
    throw new PgCommandError(describe(binary, args), result.exitCode, result.output);
  }

  /** Like run() but reports the exit code instead of throwing (pg_ctl status uses 3 for "not running"). */
  exec(binary: string, args: string[]): Promise<{ exitCode: number | null; output: string }> {
    const [file, argv] = this.wrap(binary, args);
    return new Promise((resolve) => {
      // cwd '/': the server account may not be able to enter ours (e.g. /root), which initdb warns about.
      const child = spawn(file, argv, { cwd: '/', env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk.toString('utf8');
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.once('error', (err) => resolve({ exitCode: null, output: output + err.message }));
      child.once('close', (code) => resolve({ exitCode: code, output }));
    });
  }

  /** Synchronous variant for process 'exit' handlers, where no promise can settle. Never throws. */
  runSync(binary: string, args: string[], timeoutMs = 10_000): boolean {
    const [file, argv] = this.wrap(binary, args);
    try {
      const result = spawnSync(file, argv, {
        cwd: '/',
        env: serverEnv(),
        stdio: 'ignore',
        timeout: timeoutMs,
      });
      return result.status === 0;
    } catch {
      return false;
    }
  }

  /** The argv actually executed for `binary args` (runuser-wrapped when root). */
  wrap(binary: string, args: string[]): [string, string[]] {
    if (!this.account) return [binary, args];
    return ['runuser', ['-u', this.account.name, '--', binary, ...args]];
  }
}

function readId(user: string, flag: '-u' | '-g'): number {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' });
  const id = Number.parseInt(String(result.stdout).trim(), 10);
  if (result.status !== 0 || Number.isNaN(id)) {
    throw new PgCommandError(`id ${flag} ${user}`, result.status, String(result.stderr));
  }
  return id;
}

/** PG* variables (PGHOST, PGDATA, PGPORT...) would silently redirect the tools; every target is explicit. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) env[key] = value;
  }
  env.LC_ALL = 'C';
  return env;
}

function describe(binary: string, args: string[]): string {
  return [binary, ...args].join(' ');
}
