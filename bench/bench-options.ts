// Parses the bench CLI flags into a validated BenchOptions (pure: no I/O, defaults passed in).
import type { BenchScript, QueryMode } from './pgbench.js';
import type { PoolerName } from './pooler-packages.js';

/**
 * Run order inside each cell. `pgroute` fronts the primary only, like PgBouncer and `direct` (proxy
 * overhead); `pgroute-split` gets every node and sends reads to the standbys, like Pgpool-II's load balancing.
 */
export const TARGET_NAMES = ['direct', 'pgbouncer', 'pgroute', 'pgpool', 'pgroute-split'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
const MODES: readonly QueryMode[] = ['simple', 'extended', 'prepared'];
const SCRIPTS: readonly BenchScript[] = ['select', 'tpcb'];

export interface BenchOptions {
  targets: TargetName[];
  durationS: number;
  clients: number[];
  modes: QueryMode[];
  scripts: BenchScript[];
  rounds: number;
  isQuick: boolean;
  /** Untimed run per target before measuring, so pools and caches start warm. */
  warmupS: number;
  /** pgbench -i scale factor. */
  scale: number;
  /** Server connections per pooler (PgBouncer default_pool_size, pgroute pool.size). */
  poolSize: number;
  threads: number;
  outFile: string;
  pgrouteBin: string;
  /** Binaries given with --pgbouncer-bin / --pgpool-bin, used instead of the packaged ones. */
  poolerBins: Partial<Record<PoolerName, string>>;
  /** false with --no-install: never call apt-get, skip poolers that are missing. */
  canInstall: boolean;
  isHelp: boolean;
}

export interface OptionDefaults {
  outFile: string;
  pgrouteBin: string;
}

/** A flag was unknown, missing its value or out of range. */
export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'BenchUsageError';
  }
}

export const USAGE = `usage: npm run bench -- [options]
  --targets LIST    comma list of ${TARGET_NAMES.join(',')} (default: all)
                      direct, pgbouncer, pgroute: primary only (pgroute vs pgbouncer = proxy overhead)
                      pgpool, pgroute-split: primary + 2 standbys with reads load-balanced
                      (pgpool over all 3 nodes, pgroute-split round robin over the standbys)
  --scripts LIST    select,tpcb (default: both)
  --modes LIST      simple,extended,prepared (default: all)
  --clients LIST    pgbench client counts (default: 16,64)
  --duration S      seconds per pgbench run (default: 10)
  --rounds N        repeat the alternating target sequence N times per cell (default: 1)
  --quick           3 s runs, first client count only
  --warmup S        untimed warm-up per target and protocol before measuring (default: 2, 0 disables)
  --scale N         pgbench -i scale factor (default: 10)
  --pool-size N     server connections per pooler (default: 20)
  --out FILE        JSON results file (default: /tmp/pgroute-bench/<timestamp>.json)
  --pgroute-bin F   pgroute entry point (default: dist/bin/pgroute.js)
  --pgbouncer-bin F PgBouncer binary to use instead of the packaged one (for -M prepared
                      in transaction mode PgBouncer needs >= 1.21; Debian 12 ships 1.18)
  --pgpool-bin F    Pgpool-II binary to use instead of the packaged one
  --no-install      do not apt-get install missing poolers; skip them instead
  --help`;

const QUICK_DURATION_S = 3;

export function parseBenchOptions(argv: string[], defaults: OptionDefaults): BenchOptions {
  const opts: BenchOptions = {
    targets: [...TARGET_NAMES],
    durationS: 10,
    clients: [16, 64],
    modes: [...MODES],
    scripts: [...SCRIPTS],
    rounds: 1,
    isQuick: false,
    warmupS: 2,
    scale: 10,
    poolSize: 20,
    threads: 2,
    outFile: defaults.outFile,
    pgrouteBin: defaults.pgrouteBin,
    poolerBins: {},
    canInstall: true,
    isHelp: false,
  };
  let hasDuration = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inline] = flag.includes('=')
      ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)]
      : [flag, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new BenchUsageError(`${name} needs a value`);
      return next;
    };
    switch (name) {
      case '--targets':
        opts.targets = parseList(value(), TARGET_NAMES, name);
        break;
      case '--scripts':
        opts.scripts = parseList(value(), SCRIPTS, name);
        break;
      case '--modes':
        opts.modes = parseList(value(), MODES, name);
        break;
      case '--clients':
        opts.clients = value()
          .split(',')
          .map((part) => parsePositiveInt(part, name));
        break;
      case '--duration':
        opts.durationS = parsePositiveInt(value(), name);
        hasDuration = true;
        break;
      case '--rounds':
        opts.rounds = parsePositiveInt(value(), name);
        break;
      case '--warmup':
        opts.warmupS = parseNonNegativeInt(value(), name);
        break;
      case '--scale':
        opts.scale = parsePositiveInt(value(), name);
        break;
      case '--pool-size':
        opts.poolSize = parsePositiveInt(value(), name);
        break;
      case '--out':
        opts.outFile = value();
        break;
      case '--pgroute-bin':
        opts.pgrouteBin = value();
        break;
      case '--pgbouncer-bin':
        opts.poolerBins.pgbouncer = value();
        break;
      case '--pgpool-bin':
        opts.poolerBins.pgpool = value();
        break;
      case '--quick':
        opts.isQuick = true;
        break;
      case '--no-install':
        opts.canInstall = false;
        break;
      case '--help':
      case '-h':
        opts.isHelp = true;
        break;
      default:
        throw new BenchUsageError(`unknown option ${flag}`);
    }
  }
  if (opts.isQuick) {
    // An explicit --duration still wins: --quick is about the shape of the matrix as much as its length.
    if (!hasDuration) opts.durationS = QUICK_DURATION_S;
    opts.clients = opts.clients.slice(0, 1);
  }
  return opts;
}

function parseList<T extends string>(raw: string, allowed: readonly T[], flag: string): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new BenchUsageError(`${flag} needs at least one of ${allowed.join(',')}`);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new BenchUsageError(`${flag}: unknown value "${item}" (expected ${allowed.join(',')})`);
    }
  }
  return [...new Set(items)] as T[];
}

function parsePositiveInt(raw: string, flag: string): number {
  const n = parseNonNegativeInt(raw, flag);
  if (n === 0) throw new BenchUsageError(`${flag} must be at least 1`);
  return n;
}

function parseNonNegativeInt(raw: string, flag: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new BenchUsageError(`${flag} expects a whole number, got "${raw}"`);
  return Number.parseInt(raw, 10);
}
