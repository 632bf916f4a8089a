// Integration: the Prober's connection handling against real PostgreSQL, a closed port and a silent TCP server.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../demo/free-port.js';
import { Discovery } from '../../discovery/discovery.js';
import { ProbeTimeoutError } from '../../discovery/errors.js';
import { Prober } from '../../discovery/probe.js';
import type { ProbeResult } from '../../discovery/probe-query.js';
import { StaticSource } from '../../discovery/static-source.js';
import { sharedCluster } from '../harness/cluster.js';

const cluster = sharedCluster();
const pg0 = cluster.instance('pg0');
const PG0_ID = `${pg0.host}:${pg0.port}`;

interface Report {
  id: string;
  result?: ProbeResult;
  vouchesForHealth?: boolean;
  error?: Error;
}

function makeProber(
  applicationName: string,
  overrides: { connectTimeoutMs?: number; intervalMs?: number } = {},
) {
  const reports: Report[] = [];
  const waiters: Array<() => void> = [];
  const prober = new Prober({
    user: cluster.descriptor.superuser,
    database: 'postgres',
    applicationName,
    intervalMs: overrides.intervalMs ?? 100,
    connectTimeoutMs: overrides.connectTimeoutMs ?? 1000,
    onResult: (id, result, vouchesForHealth) => {
      reports.push({ id, result, vouchesForHealth });
      waiters.splice(0).forEach((wake) => {
        wake();
      });
    },
    onFailure: (id, error) => {
      reports.push({ id, error });
      waiters.splice(0).forEach((wake) => {
        wake();
      });
    },
  });
  const waitForReport = async (predicate: (report: Report) => boolean, from = 0): Promise<Report> => {
    for (;;) {
      const found = reports.slice(from).find(predicate);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { prober, reports, waitForReport };
}

let prober: Prober | undefined;
afterEach(async () => {
  await prober?.stop();
  prober = undefined;
});

/** A prober of pg0 alone, started, once its first result is in (`first`). */
async function startOnPg0(applicationName: string, overrides: Parameters<typeof makeProber>[1] = {}) {
  const made = makeProber(applicationName, overrides);
  prober = made.prober;
  prober.setTargets([{ id: PG0_ID, host: pg0.host, port: pg0.port }]);
  prober.start();
  const first = await made.waitForReport((r) => r.result !== undefined);
  return { ...made, first };
}

describe('Prober against a real primary', () => {
  it('does not let the probe in flight when a failure is reported vouch for the instance; the next one does', async () => {
    const made = await startOnPg0('pgroute-probe-test-after-failure', { intervalMs: 60_000 });
    const from = made.reports.length;
    // One probe in flight, then a failure reported while it runs.
    const inFlight = made.prober.probeNow(PG0_ID);
    const afterFailure = made.prober.probeAfterFailure(PG0_ID);
    await Promise.all([inFlight, afterFailure]);
    expect(made.reports.slice(from).map((r) => r.vouchesForHealth)).toEqual([false, true]);
  });

  it('reports a not-in-recovery result for the primary', async () => {
    const { first } = await startOnPg0('pgroute-probe-test-primary');
    expect(first.result?.isInRecovery).toBe(false);
  });

  it('keeps one connection open across probes', async () => {
    const applicationName = 'pgroute-probe-test-reuse';
    const made = await startOnPg0(applicationName, { intervalMs: 20 });
    const pidsSeen = new Set<number>();
    for (let i = 0; i < 5; i += 1) {
      const rows = await cluster.query<{ pid: number }>(
        'pg0',
        'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      for (const row of rows) pidsSeen.add(row.pid);
      await made.waitForReport((r) => r.result !== undefined, made.reports.length);
    }
    expect(pidsSeen.size).toBe(1);
  });

  it('reports the loss of its connection when the server terminates it, then reconnects', async () => {
    const applicationName = 'pgroute-probe-test-terminate';
    const made = await startOnPg0(applicationName, { intervalMs: 60_000 });
    const from = made.reports.length;
    await cluster.query(
      'pg0',
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    await made.waitForReport((r) => r.error !== undefined, from);
    // The interval is a minute: a result this soon can only come from the immediate reconnect.
    const after = await made.waitForReport((r) => r.result !== undefined, from);
    expect(after.result?.isInRecovery).toBe(false);
  });

  it('probes at once on probeNow and resolves after reporting', async () => {
    const made = await startOnPg0('pgroute-probe-test-now', { intervalMs: 60_000 });
    const before = made.reports.length;
    await made.prober.probeNow(PG0_ID);
    expect(made.reports.length).toBe(before + 1);
  });
});

describe('Prober failures', () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    silentPort = await findFreePort('127.0.0.1');
    // Accepts TCP connections and never answers the startup packet: a frozen server.
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('reports a failure when nothing listens on the port', async () => {
    const port = await findFreePort('127.0.0.1');
    const made = makeProber('pgroute-probe-test-refused');
    prober = made.prober;
    prober.setTargets([{ id: `127.0.0.1:${port}`, host: '127.0.0.1', port }]);
    prober.start();
    const report = await made.waitForReport((r) => r.error !== undefined);
    expect(report.error?.message).toMatch(/ECONNREFUSED/);
  });

  it('times out connecting to a server that never answers', async () => {
    const made = makeProber('pgroute-probe-test-silent', { connectTimeoutMs: 200 });
    prober = made.prober;
    prober.setTargets([{ id: `127.0.0.1:${silentPort}`, host: '127.0.0.1', port: silentPort }]);
    prober.start();
    const report = await made.waitForReport((r) => r.error !== undefined);
    expect(report.error).toBeInstanceOf(ProbeTimeoutError);
  });

  it('stops probing a target that is no longer listed', async () => {
    const made = makeProber('pgroute-probe-test-removed');
    prober = made.prober;
    prober.setTargets([{ id: PG0_ID, host: pg0.host, port: pg0.port }]);
    prober.start();
    await made.waitForReport((r) => r.result !== undefined);
    prober.setTargets([]);
    expect(prober.targetIds()).toEqual([]);
  });
});

describe('Discovery.reportFailure', () => {
  it('marks the instance suspect at once and restores it after the immediate probe', async () => {
    const discovery = new Discovery({
      sources: [new StaticSource({ hosts: [PG0_ID] })],
      probe: { user: cluster.descriptor.superuser, database: 'postgres', intervalMs: 60_000 },
    });
    try {
      await discovery.start();
      await discovery.waitFor((snapshot) => snapshot.primaryId === PG0_ID, 10_000);
      const seen: string[] = [];
      discovery.onChange((next) => seen.push(next.instances[0]?.health ?? 'none'));
      discovery.reportFailure(PG0_ID, 'ECONNRESET on a data connection');
      const healthRightAfter = discovery.current().instances[0]?.health;
      await discovery.waitFor((snapshot) => snapshot.primaryId === PG0_ID, 10_000);
      expect([healthRightAfter, seen.at(-1)]).toEqual(['suspect', 'up']);
    } finally {
      await discovery.stop();
    }
  });
});
