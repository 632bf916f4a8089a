// Finds the PgBouncer / Pgpool-II binaries, apt-installing them when missing, and stops the services apt may start.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ProcessSupervisor } from './process-supervisor.js';

export type PoolerName = 'pgbouncer' | 'pgpool';

export type PoolerBinary =
  | { kind: 'ready'; path: string; version: string /** [major, minor, patch] */; versionParts: number[] }
  | { kind: 'missing'; reason: string };

export interface PoolerInstallDeps {
  supervisor: ProcessSupervisor;
  canInstall: boolean;
  /** Binaries named on the command line: used as they are, never installed. */
  overrides: Partial<Record<PoolerName, string>>;
  log: (line: string) => void;
}

interface PoolerPackage {
  binary: string;
  aptPackage: string;
  /** Debian's init script name, stopped after install so only our own instances run. */
  service: string;
}

const PACKAGES: Record<PoolerName, PoolerPackage> = {
  pgbouncer: { binary: 'pgbouncer', aptPackage: 'pgbouncer', service: 'pgbouncer' },
  pgpool: { binary: 'pgpool', aptPackage: 'pgpool2', service: 'pgpool2' },
};

const APT_TIMEOUT_MS = 10 * 60_000;

/** Resolves each wanted pooler; installs the missing ones in a single apt-get transaction. */
export async function ensurePoolerBinaries(
  wanted: PoolerName[],
  deps: PoolerInstallDeps,
): Promise<Map<PoolerName, PoolerBinary>> {
  const found = new Map<PoolerName, PoolerBinary>();
  const packaged: PoolerName[] = [];
  for (const name of wanted) {
    const given = deps.overrides[name];
    if (given === undefined) packaged.push(name);
    else if (!existsSync(given)) found.set(name, { kind: 'missing', reason: `${given} does not exist` });
    else found.set(name, await readVersion(given, deps.supervisor));
  }
  const missing = packaged.filter((name) => findBinary(PACKAGES[name].binary) === undefined);
  let installError: string | undefined;
  if (missing.length > 0) installError = await installPackages(missing, deps);
  for (const name of packaged) {
    const path = findBinary(PACKAGES[name].binary);
    if (path === undefined) {
      found.set(name, {
        kind: 'missing',
        reason: installError ?? `${PACKAGES[name].binary} not found after install`,
      });
      continue;
    }
    found.set(name, await readVersion(path, deps.supervisor));
  }
  return found;
}

async function installPackages(names: PoolerName[], deps: PoolerInstallDeps): Promise<string | undefined> {
  const packages = names.map((name) => PACKAGES[name].aptPackage);
  if (!deps.canInstall)
    return `not installed and --no-install was given (apt-get install -y ${packages.join(' ')})`;
  if (process.getuid?.() !== 0) {
    return `not installed and not running as root; install with: sudo apt-get install -y ${packages.join(' ')}`;
  }
  deps.log(`installing ${packages.join(' ')} with apt-get (running as root)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await deps.supervisor.runBounded({
    command: 'apt-get',
    args: ['update', '-q'],
    env,
    timeoutMs: APT_TIMEOUT_MS,
  });
  if (update.kind !== 'exited' || update.exitCode !== 0) return `apt-get update failed: ${describe(update)}`;
  const install = await deps.supervisor.runBounded({
    command: 'apt-get',
    args: ['install', '-y', '-q', '--no-install-recommends', ...packages],
    env,
    timeoutMs: APT_TIMEOUT_MS,
  });
  if (install.kind !== 'exited' || install.exitCode !== 0)
    return `apt-get install failed: ${describe(install)}`;
  // Debian's maintainer scripts start the packaged daemons (unless policy-rc.d forbids it); they
  // would hold ports and backend connections, and the bench runs its own instances anyway.
  for (const name of names) await stopPackagedService(PACKAGES[name].service, deps);
  return undefined;
}

async function stopPackagedService(service: string, deps: PoolerInstallDeps): Promise<void> {
  const stop = await deps.supervisor.runBounded({
    command: 'service',
    args: [service, 'stop'],
    timeoutMs: 30_000,
  });
  const isStopped = stop.kind === 'exited' && stop.exitCode === 0;
  deps.log(
    `stopped the packaged ${service} service: ${isStopped ? 'ok' : `not running (${describe(stop)})`}`,
  );
  const disable = await deps.supervisor.runBounded({
    command: 'update-rc.d',
    args: [service, 'disable'],
    timeoutMs: 30_000,
  });
  if (disable.kind !== 'exited' || disable.exitCode !== 0)
    deps.log(`could not disable ${service}: ${describe(disable)}`);
}

async function readVersion(path: string, supervisor: ProcessSupervisor): Promise<PoolerBinary> {
  const result = await supervisor.runBounded({ command: path, args: ['--version'], timeoutMs: 10_000 });
  if (result.kind !== 'exited') return { kind: 'missing', reason: `${path} --version: ${describe(result)}` };
  // "PgBouncer 1.18.0" / "pgpool-II version 4.3.5 (tamahomeboshi)"
  const firstLine = `${result.stdout}${result.stderr}`.trim().split('\n')[0] ?? '';
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(firstLine);
  const versionParts = match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : [0, 0, 0];
  return { kind: 'ready', path, version: firstLine, versionParts };
}

/** Debian installs both daemons in /usr/sbin, which is not on every user's PATH. */
function findBinary(binary: string): string | undefined {
  const dirs = [
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
    '/usr/local/bin',
    ...(process.env.PATH ?? '').split(delimiter),
  ];
  return dirs
    .filter(Boolean)
    .map((dir) => join(dir, binary))
    .find((path) => existsSync(path));
}

function describe(result: Awaited<ReturnType<ProcessSupervisor['runBounded']>>): string {
  switch (result.kind) {
    case 'spawn-failed':
      return result.reason;
    case 'timed-out':
      return 'timed out';
    case 'exited':
      return `exit ${result.exitCode}: ${(result.stderr || result.stdout).trim().split('\n').slice(-2).join(' ')}`;
  }
}

/** True when `parts` >= `minimum` (both [major, minor, patch]). */
export function isAtLeastVersion(parts: number[], minimum: number[]): boolean {
  for (let i = 0; i < minimum.length; i++) {
    const have = parts[i] ?? 0;
    const need = minimum[i] ?? 0;
    if (have !== need) return have > need;
  }
  return true;
}
