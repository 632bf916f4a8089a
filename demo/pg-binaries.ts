// Locates the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) the local cluster launcher drives.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Thrown when no directory holding `initdb` can be found. */
export class PostgresNotInstalledError extends Error {
  readonly code = 'POSTGRES_NOT_INSTALLED';
  constructor(searched: string[]) {
    super(
      'PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) were not found ' +
        `(looked in: ${searched.join(', ') || 'nowhere'}). ` +
        'On Debian/Ubuntu install them with: apt-get install -y postgresql',
    );
    this.name = 'PostgresNotInstalledError';
  }
}

export interface PgBinaries {
  binDir: string;
  initdb: string;
  pgCtl: string;
  pgBasebackup: string;
}

export interface FindPgBinariesOptions {
  /** Debian's versioned install root; overridable for tests. */
  debianRoot?: string;
  path?: string;
}

/**
 * Order: `pg_config --bindir` (what the user's PATH considers "the" PostgreSQL), then the newest
 * Debian major under /usr/lib/postgresql (Debian keeps server binaries off PATH), then PATH itself.
 */
export function findPgBinaries(opts: FindPgBinariesOptions = {}): PgBinaries {
  const debianRoot = opts.debianRoot ?? '/usr/lib/postgresql';
  const searchPath = opts.path ?? process.env.PATH ?? '';
  const candidates = [
    ...readPgConfigBindir(searchPath),
    ...listDebianBinDirs(debianRoot),
    ...searchPath.split(delimiter).filter(Boolean),
  ];
  const binDir = candidates.find(hasInitdb);
  if (binDir === undefined) throw new PostgresNotInstalledError(candidates);
  return {
    binDir,
    initdb: join(binDir, 'initdb'),
    pgCtl: join(binDir, 'pg_ctl'),
    pgBasebackup: join(binDir, 'pg_basebackup'),
  };
}

function hasInitdb(dir: string): boolean {
  return existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
}

function readPgConfigBindir(searchPath: string): string[] {
  const env = { ...process.env, PATH: searchPath };
  const result = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8', env });
  if (result.status !== 0 || typeof result.stdout !== 'string') return [];
  const dir = result.stdout.trim();
  return dir === '' ? [] : [dir];
}

function listDebianBinDirs(root: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  return entries
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((name) => join(root, name, 'bin'));
}
