// Builds pgbench command lines, runs one bounded pgbench and parses its summary into numbers.
import type { BoundedRunResult, ProcessSupervisor } from './process-supervisor.js';

export type BenchScript = 'select' | 'tpcb';
export type QueryMode = 'simple' | 'extended' | 'prepared';

export interface PgbenchRunSpec {
  pgbenchPath: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  script: BenchScript;
  mode: QueryMode;
  clients: number;
  threads: number;
  durationS: number;
}

export type PgbenchResult =
  | {
      kind: 'completed';
      tps: number;
      latencyMs: number;
      transactions: number;
      failedTransactions: number;
      /** Clients pgbench gave up on after an error; their share of the load is missing from tps. */
      abortedClients: number;
      /** pgbench printed "Run was aborted; the above results are incomplete." */
      isAborted: boolean;
      /** First distinct error lines, for the report. */
      errorSample: string[];
    }
  | { kind: 'failed'; reason: string }
  | { kind: 'timed-out'; reason: string };

/** Time allowed on top of -T for connecting 64 SCRAM clients through a pooler and printing the summary. */
const GRACE_MS = 60_000;
const MAX_ERROR_SAMPLES = 3;

/**
 * -n skips pgbench's own pre-run VACUUM: the runner does that maintenance directly on the primary,
 * so it is identical for every target and never measured through a pooler
 * (https://www.postgresql.org/docs/15/pgbench.html).
 */
export function buildPgbenchArgs(spec: PgbenchRunSpec): string[] {
  return [
    '-n',
    '-h',
    spec.host,
    '-p',
    String(spec.port),
    '-U',
    spec.user,
    ...(spec.script === 'select' ? ['-S'] : []),
    '-M',
    spec.mode,
    '-c',
    String(spec.clients),
    '-j',
    String(Math.min(spec.threads, spec.clients)),
    '-T',
    String(spec.durationS),
    spec.database,
  ];
}

/** Runs pgbench to completion or to its deadline (duration + grace); never throws. */
export async function runPgbench(
  spec: PgbenchRunSpec,
  supervisor: ProcessSupervisor,
): Promise<PgbenchResult> {
  const outcome = await supervisor.runBounded({
    command: spec.pgbenchPath,
    args: buildPgbenchArgs(spec),
    env: clientEnv(spec.password),
    timeoutMs: spec.durationS * 1000 + GRACE_MS,
  });
  return interpretRun(outcome, spec.durationS * 1000 + GRACE_MS);
}

function interpretRun(outcome: BoundedRunResult, timeoutMs: number): PgbenchResult {
  switch (outcome.kind) {
    case 'spawn-failed':
      return { kind: 'failed', reason: `could not start pgbench: ${outcome.reason}` };
    case 'timed-out':
      return {
        kind: 'timed-out',
        reason: `pgbench still running after ${Math.round(timeoutMs / 1000)} s; killed`,
      };
    case 'exited':
      return parsePgbenchOutput(outcome.stdout, outcome.stderr, outcome.exitCode);
  }
}

/**
 * pgbench 15 summary lines (https://www.postgresql.org/docs/15/pgbench.html#id-1.9.4.11.9):
 *   number of failed transactions: 0 (0.000%)
 *   latency average = 0.386 ms
 *   tps = 41399.832855 (without initial connection time)
 * Versions before 14 printed two tps lines, "including/excluding connections establishing"; the
 * excluding one is the comparable figure. Exit status 2 means some clients aborted but the summary
 * (covering the surviving clients) is still printed; exit 1 means nothing ran.
 */
export function parsePgbenchOutput(stdout: string, stderr: string, exitCode: number): PgbenchResult {
  const tps = readTps(stdout);
  const latencyMs = readNumber(stdout, /^latency average = ([\d.]+) ms$/m);
  const errorLines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('pgbench: error:') || line.startsWith('pgbench: fatal:'));
  if (tps === undefined || latencyMs === undefined) {
    const reason = errorLines.find((line) => !/could not create connection for setup/.test(line));
    return {
      kind: 'failed',
      reason: stripPrefix(reason ?? errorLines[0] ?? `pgbench exited ${exitCode} without a summary`),
    };
  }
  return {
    kind: 'completed',
    tps,
    latencyMs,
    transactions: readNumber(stdout, /^number of transactions actually processed: (\d+)/m) ?? 0,
    failedTransactions: readNumber(stdout, /^number of failed transactions: (\d+)/m) ?? 0,
    abortedClients: countAbortedClients(errorLines),
    isAborted: errorLines.some((line) => line.includes('Run was aborted')),
    errorSample: sampleErrors(errorLines),
  };
}

function readTps(stdout: string): number | undefined {
  return (
    readNumber(stdout, /^tps = ([\d.]+) \(without initial connection time\)$/m) ??
    readNumber(stdout, /^tps = ([\d.]+) \(excluding connections establishing\)$/m) ??
    readNumber(stdout, /^tps = ([\d.]+)/m)
  );
}

/** Both phrasings pgbench uses: "client 3 aborted in command 4 (SQL) of script 0" and "client 3 script 0 aborted in command 1". */
function countAbortedClients(errorLines: string[]): number {
  const clients = new Set<string>();
  for (const line of errorLines) {
    const match = /client (\d+) (?:script \d+ )?aborted/.exec(line);
    if (match) clients.add(match[1]!);
  }
  return clients.size;
}

/** Distinct messages with the per-client prefix removed, so 64 identical aborts show as one line. */
function sampleErrors(errorLines: string[]): string[] {
  const distinct = new Set<string>();
  for (const line of errorLines) {
    const message = stripPrefix(line).replace(
      /^client \d+ (?:script \d+ )?aborted in command \d+[^:;]*[:;]\s*/,
      '',
    );
    if (message.includes('Run was aborted')) continue;
    distinct.add(message);
    if (distinct.size >= MAX_ERROR_SAMPLES) break;
  }
  return [...distinct];
}

function stripPrefix(line: string): string {
  return line.replace(/^pgbench: (?:error|fatal): /, '');
}

function readNumber(text: string, pattern: RegExp): number | undefined {
  const match = pattern.exec(text);
  if (!match) return undefined;
  const value = Number.parseFloat(match[1]!);
  return Number.isFinite(value) ? value : undefined;
}

/** PG* variables from the caller's shell would silently redirect pgbench; only the password is passed on. */
export function clientEnv(password: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) env[key] = value;
  }
  env.PGPASSWORD = password;
  env.PGCONNECT_TIMEOUT = '10';
  env.LC_ALL = 'C';
  return env;
}
