// CLI entry of `npm run bench`: parses flags, runs one BenchSession, prints the table and writes the JSON.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchUsageError, parseBenchOptions, USAGE } from './bench-options.js';
import { formatSummaryTable } from './bench-report.js';
import { BenchInterruptedError, type BenchResults, BenchSession } from './bench-session.js';
import { ProcessSupervisor } from './process-supervisor.js';

async function main(argv: string[]): Promise<number> {
  const now = () => new Date();
  const here = dirname(fileURLToPath(import.meta.url));
  const stamp = now().toISOString().replace(/[:.]/g, '-');
  let opts: ReturnType<typeof parseBenchOptions>;
  try {
    opts = parseBenchOptions(argv, {
      outFile: join('/tmp', 'pgroute-bench', `${stamp}.json`),
      // Compiled layout: dist/bench/run.js next to dist/bin/pgroute.js.
      pgrouteBin: resolve(here, '..', 'bin', 'pgroute.js'),
    });
  } catch (err) {
    if (err instanceof BenchUsageError) {
      console.error(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (opts.isHelp) {
    console.log(USAGE);
    return 0;
  }

  const log = (line: string) => console.log(`[bench] ${line}`);
  const supervisor = new ProcessSupervisor();
  const session = new BenchSession(opts, { supervisor, log, now });
  // 'exit' handlers cannot await: last resort that SIGKILLs whatever is still running.
  const onExit = () => supervisor.killAllSync();
  process.on('exit', onExit);
  let isInterrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (isInterrupted) {
      // Second Ctrl-C: stop waiting for a graceful teardown.
      log(`${signal} again: killing everything now`);
      process.exit(130);
    }
    isInterrupted = true;
    log(`${signal}: stopping pgbench, poolers and the cluster...`);
    void session.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  log(
    `targets=${opts.targets.join(',')} scripts=${opts.scripts.join(',')} modes=${opts.modes.join(',')} ` +
      `clients=${opts.clients.join(',')} duration=${opts.durationS}s rounds=${opts.rounds}${opts.isQuick ? ' (quick)' : ''}`,
  );
  let results: BenchResults;
  try {
    results = await session.run();
  } catch (err) {
    if (err instanceof BenchInterruptedError || isInterrupted) return 130;
    console.error(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  } finally {
    // Also after an interrupt: returning early would let process.exit() cut the teardown short.
    await session.cleanup();
  }

  printResults(results);
  await mkdir(dirname(opts.outFile), { recursive: true });
  await writeFile(opts.outFile, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nJSON results: ${opts.outFile}`);
  return results.summary.some((row) => row.status === 'ok') ? 0 : 1;
}

function printResults(results: BenchResults): void {
  console.log('');
  console.log(
    `PostgreSQL ${results.environment.postgres}, ${results.environment.pgbench}, ` +
      `node ${results.environment.node}, ${results.environment.cpus} CPUs; everything on loopback on one machine`,
  );
  for (const target of results.targets) {
    if (target.status === 'skipped') {
      console.log(`  ${target.name}: SKIPPED (${target.reason?.split('\n')[0]})`);
      continue;
    }
    console.log(`  ${target.name}: ${target.version} at ${target.endpoint}`);
    for (const note of target.notes) console.log(`      ${note}`);
  }
  console.log('');
  console.log(formatSummaryTable(results.summary));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
