// The ops HTTP server's probes follow the topology it is given: readiness never depends on having a primary.

import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceState, TopologySnapshot } from '../../discovery/topology-view.js';
import type { MetricsSource } from '../../metrics/metrics-source.js';
import { type OpsServer, startOpsServer } from '../../metrics/ops-server.js';
import { FixedHistogram } from '../../proxy/stats.js';
import { instanceState } from '../harness/instance-state.js';

const silent = { info: () => {}, warn: () => {} };

function instance(id: string, role: InstanceState['role'], over: Partial<InstanceState> = {}): InstanceState {
  return instanceState(id, role, {
    timeline: 2,
    currentLsn: role === 'primary' ? 0x1_0000_00a0n : null,
    replayLsn: role === 'standby' ? 0x1_0000_0010n : null,
    lagBytes: role === 'standby' ? 144 : 0,
    lastProbeAt: 1_700_000_000_000,
    ...over,
  });
}

/** A proxy whose topology the test sets; everything else empty. */
function sourceWith(instances: InstanceState[], primaryId: string | null): MetricsSource {
  const snapshot: TopologySnapshot = { version: 1, primaryId, reason: 'test', isLagOnly: false, instances };
  return {
    listeners: [
      {
        name: 'auto@127.0.0.1:6432',
        options: { host: '127.0.0.1', port: 6432, mode: 'auto' },
        port: 6432,
        sessions: new Set(),
        authFailures: 0,
      },
    ],
    discovery: { current: () => snapshot },
    pools: { all: () => [] },
    router: { heldCount: 3, paused: false },
    sessions: new Set(),
    stats: {
      routed: new Map(),
      errors: new Map(),
      pins: new Map(),
      transactions: new Map(),
      poolWait: new FixedHistogram([1]),
      requestDuration: new FixedHistogram([1]),
      bytesFromClients: 0,
      bytesToClients: 0,
      authFailures: 0,
    },
    classifier: {},
    turns: { isBusy: false, readsPerTurn: 0 },
    startedAt: 1_700_000_000_000,
  };
}

let server: OpsServer | null = null;

afterEach(async () => {
  await server?.close();
  server = null;
});

async function start(source: MetricsSource, extra: { isReady?: () => boolean; maxLagBytes?: number } = {}) {
  server = await startOpsServer(source, {
    host: '127.0.0.1',
    port: 0,
    log: silent,
    ...(extra.isReady ? { isReady: extra.isReady } : {}),
    lagLimits: () => ({ maxLagBytes: extra.maxLagBytes ?? null, maxLagSeconds: null }),
  });
  return (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${server!.port}${path}`, init);
}

describe('ops server probes', () => {
  it('stays ready and live while no primary is known, but /primary answers 503', async () => {
    const get = await start(sourceWith([instance('10.0.0.2:5432', 'standby')], null));
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/primary')).status).toBe(503);
    expect((await get('/replica')).status).toBe(200);
  });

  it('answers /replica with 503 when no standby is eligible', async () => {
    const get = await start(
      sourceWith(
        [
          instance('10.0.0.1:5432', 'primary'),
          instance('10.0.0.2:5432', 'standby', { health: 'down', isEligible: false }),
        ],
        '10.0.0.1:5432',
      ),
    );
    expect((await get('/primary')).status).toBe(200);
    expect((await get('/replica')).status).toBe(503);
  });

  it('applies the routing lag limit to /replica', async () => {
    const source = sourceWith(
      [instance('10.0.0.1:5432', 'primary'), instance('10.0.0.2:5432', 'standby')],
      '10.0.0.1:5432',
    );
    const get = await start(source, { maxLagBytes: 100 });
    expect((await get('/replica')).status).toBe(503);
  });

  it('reports not ready when the proxy says so (shutdown)', async () => {
    let isReady = true;
    const get = await start(sourceWith([], null), { isReady: () => isReady });
    expect((await get('/readyz')).status).toBe(200);
    isReady = false;
    expect((await get('/readyz')).status).toBe(503);
  });

  it('shows LSNs in pg_lsn text form and held writes in /status', async () => {
    const get = await start(
      sourceWith(
        [instance('10.0.0.1:5432', 'primary'), instance('10.0.0.2:5432', 'standby')],
        '10.0.0.1:5432',
      ),
    );
    const status = (await (await get('/status')).json()) as {
      heldWrites: number;
      topology: { instances: { currentLsn: string | null; replayLsn: string | null }[] };
    };
    expect(status.heldWrites).toBe(3);
    expect(status.topology.instances.map((i) => [i.currentLsn, i.replayLsn])).toEqual([
      ['1/A0', null],
      [null, '1/10'],
    ]);
  });

  it('refuses other methods with 405 and an Allow header', async () => {
    const get = await start(sourceWith([], null));
    const res = await get('/metrics', { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('ignores the query string when choosing a route and never echoes it', async () => {
    const get = await start(sourceWith([], null));
    const res = await get('/healthz?probe=<b>hello</b>');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });
});
