#!/usr/bin/env node
// Command line: `pgroute --config FILE`, `pgroute demo`, `pgroute check --config FILE`, `--version`.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile } from '../config.js';
import { startPgroute } from '../main.js';

const USAGE = `Usage:
  pgroute --config FILE      start the proxy (also PGROUTE_CONFIG=FILE)
  pgroute demo               start a local primary + 2 standbys and pgroute in front of them
  pgroute check --config F   validate a configuration file and exit
  pgroute --version | --help

Environment variables PGROUTE_<SECTION>__<KEY> override the file, e.g. PGROUTE_POOL__SIZE=50;
  --set key.path=value (repeatable) overrides both, e.g. --set pool.size=50 --set log.level=debug.`;

function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', '..', 'package.json'), join(here, '..', 'package.json')]) {
    try {
      return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/ or source)
    }
  }
  return 'unknown';
}

/** Every value of a repeatable flag: `--set a=1 --set b=2` or `--set=a=1`. */
function argValues(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && args[i + 1] !== undefined) out.push(args[++i]!);
    else if (args[i]!.startsWith(`${name}=`)) out.push(args[i]!.slice(name.length + 1));
  }
  return out;
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

async function main(args: string[]): Promise<number> {
  if (args.includes('--version') || args.includes('-V')) {
    console.log(`pgroute ${version()}`);
    return 0;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  if (args[0] === 'demo') {
    const { runDemo } = await import('../demo/run-demo.js');
    return runDemo(args.slice(1));
  }
  const file = argValue(args, '--config') ?? process.env.PGROUTE_CONFIG;
  if (!file) {
    console.error(USAGE);
    return 2;
  }
  const sets = argValues(args, '--set');
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile(file, process.env, sets);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  if (args[0] === 'check') {
    console.log(`${file}: configuration is valid`);
    return 0;
  }
  const proxy = await startPgroute(config, { loadConfig: () => loadConfigFile(file, process.env, sets) });
  // SIGHUP re-reads the file, as PgBouncer does; a bad file is reported and the old config stays.
  process.on('SIGHUP', () => {
    proxy
      .reload()
      .catch((err: unknown) =>
        console.error(`reload failed: ${err instanceof Error ? err.message : String(err)}`),
      );
  });
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      void proxy.stop().then(resolve);
      // A second signal means "now".
      process.once(sig, () => process.exit(1));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
