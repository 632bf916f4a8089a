// Resolves the OS account pooler daemons run as (postgres when we are root) and hands it the files they read.
import { spawnSync } from 'node:child_process';
import { chown, writeFile } from 'node:fs/promises';

export interface ServiceAccount {
  name: string;
  uid: number;
  gid: number;
}

/** `id` could not resolve the account the daemons must run as. */
export class ServiceAccountError extends Error {
  readonly code = 'SERVICE_ACCOUNT_UNKNOWN';
  constructor(name: string, detail: string) {
    super(`cannot resolve OS user ${name}: ${detail.trim()}`);
    this.name = 'ServiceAccountError';
  }
}

/**
 * PgBouncer ("PgBouncer should not run as root") and Pgpool-II both refuse or discourage root, so as
 * root they run as `postgres`; as any other user they run as that user (undefined = no switch).
 */
export function resolveServiceAccount(name = 'postgres'): ServiceAccount | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { name, uid: readId(name, '-u'), gid: readId(name, '-g') };
}

/** Writes a config file the daemon can read; secrets get 0600 because both poolers warn on looser modes. */
export async function writeServiceFile(
  path: string,
  text: string,
  account: ServiceAccount | undefined,
  mode = 0o600,
): Promise<void> {
  await writeFile(path, text, { mode });
  if (account) await chown(path, account.uid, account.gid);
}

/** Gives a directory to the account so daemons can create pid files, sockets and status files in it. */
export async function giveToServiceAccount(path: string, account: ServiceAccount | undefined): Promise<void> {
  if (account) await chown(path, account.uid, account.gid);
}

function readId(user: string, flag: '-u' | '-g'): number {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' });
  const id = Number.parseInt(String(result.stdout).trim(), 10);
  if (result.status !== 0 || Number.isNaN(id)) throw new ServiceAccountError(user, String(result.stderr));
  return id;
}
