// Waits until a started target accepts TCP connections and answers `select 1` through psql.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { clientEnv } from './pgbench.js';
import {
  type ProcessSupervisor,
  type ServiceHandle,
  ProcessSupervisor as Supervisor,
} from './process-supervisor.js';

export interface ReadinessProbe {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  psqlPath: string;
  timeoutMs: number;
  /** When given, an early exit of this daemon ends the wait at once with its log tail. */
  service?: ServiceHandle;
}

export type Readiness = { kind: 'ready' } | { kind: 'not-ready'; reason: string };

const POLL_MS = 200;

/**
 * A listening port alone is not enough (a pooler may accept and then fail authentication or the
 * server login), so readiness is a real query with the client credentials the bench will use.
 */
export async function waitForReady(probe: ReadinessProbe, supervisor: ProcessSupervisor): Promise<Readiness> {
  const deadline = Date.now() + probe.timeoutMs;
  let lastError = 'port not open yet';
  while (Date.now() < deadline) {
    if (probe.service && !probe.service.isRunning()) {
      const tail = Supervisor.readLogTail(probe.service.logFile);
      // The first line stands alone in summaries, so it carries the daemon's last words; the tail follows.
      const lastLine = tail.split('\n').at(-1) ?? '';
      return {
        kind: 'not-ready',
        reason: `${probe.service.name} exited (${probe.service.exitStatus()}): ${lastLine}\n${tail}`,
      };
    }
    if (await isPortOpen(probe.host, probe.port)) {
      const result = await supervisor.runBounded({
        command: probe.psqlPath,
        args: [
          '-X',
          '-A',
          '-t',
          '-h',
          probe.host,
          '-p',
          String(probe.port),
          '-U',
          probe.user,
          '-d',
          probe.database,
          '-c',
          'select 1',
        ],
        env: clientEnv(probe.password),
        timeoutMs: 10_000,
      });
      if (result.kind === 'exited' && result.exitCode === 0) return { kind: 'ready' };
      lastError = describeFailure(result);
    }
    await sleep(POLL_MS);
  }
  return { kind: 'not-ready', reason: `not ready after ${probe.timeoutMs} ms: ${lastError}` };
}

function describeFailure(result: Awaited<ReturnType<ProcessSupervisor['runBounded']>>): string {
  if (result.kind === 'spawn-failed') return result.reason;
  if (result.kind === 'timed-out') return 'psql timed out';
  return result.stderr.trim().split('\n')[0] || `psql exited ${result.exitCode}`;
}

function isPortOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (isOpen: boolean) => {
      socket.destroy();
      resolve(isOpen);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
