// Watches the process that owns a local cluster and stops the cluster if that process dies without cleaning up.
import { spawn } from 'node:child_process';
import type { PgCommandRunner } from './pg-command-runner.js';

export interface OrphanReaperOptions {
  ownerPid: number;
  baseDir: string;
  dataDirs: string[];
  pgCtlPath: string;
  runner: PgCommandRunner;
}

export interface OrphanReaper {
  /** The owner cleaned up itself; the watcher is no longer needed. */
  dismiss(): void;
}

/**
 * 'exit' handlers do not run when a process is SIGKILLed (vitest may kill a hung worker), and the
 * postmasters pg_ctl started are daemons that would outlive it. A detached shell polls the owner's pid
 * once a second and, when it is gone, stops every server and removes the base dir.
 */
export function startOrphanReaper(opts: OrphanReaperOptions): OrphanReaper {
  const stops = opts.dataDirs.map((dir) => {
    const [file, argv] = opts.runner.wrap(opts.pgCtlPath, ['-D', dir, '-m', 'immediate', '-w', 'stop']);
    return `[ -f ${quote(`${dir}/postmaster.pid`)} ] && ${[file, ...argv].map(quote).join(' ')} >/dev/null 2>&1`;
  });
  const script = [
    `while kill -0 ${opts.ownerPid} 2>/dev/null; do sleep 1; done`,
    ...stops,
    `rm -rf ${quote(opts.baseDir)}`,
  ].join('\n');
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
  return {
    dismiss() {
      if (child.pid === undefined) return;
      try {
        // Negative pid: the whole detached group, including a pending `sleep`.
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
