// The ops HTTP server in front of a real pgroute and cluster: metrics move with traffic, probes and /status answer.

import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpsServer, startOpsServer } from '../../metrics/ops-server.js';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let tp: TestProxy;
let ops: OpsServer;

beforeAll(async () => {
  tp = await startTestProxy(sharedCluster(), { pool: { size: 4 } });
  // Wait until the standbys are eligible for reads, so /replica and routing see them.
  await tp.proxy.discovery.waitFor((s) => s.instances.filter((i) => i.isEligible).length === 3, 15_000);
  ops = await startOpsServer(tp.proxy, { host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await ops?.close();
  await tp?.stop();
});

const url = (path: string) => `http://127.0.0.1:${ops.port}${path}`;

/** Sum of every sample of `name` whose labels include `labels`, from the Prometheus text format. */
function sumSamples(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

async function scrape(): Promise<string> {
  const res = await fetch(url('/metrics'));
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('ops HTTP server', () => {
  it('counts exactly the reads sent through the auto listener as routed to standbys', async () => {
    const client = new pg.Client(tp.params({ mode: 'auto' }));
    await client.connect();
    try {
      const before = sumSamples(await scrape(), 'pgroute_requests_routed_total', { role: 'standby' });
      for (let i = 0; i < 10; i++) await client.query('SELECT 1');
      const after = sumSamples(await scrape(), 'pgroute_requests_routed_total', { role: 'standby' });
      expect(after - before).toBe(10);
    } finally {
      await client.end();
    }
  });

  it('exposes the Node process metrics next to the proxy ones', async () => {
    const text = await scrape();
    expect(text).toMatch(/^pgroute_process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^pgroute_instance_role\{instance="[^"]+",role="primary"\} 1$/m);
  });

  it('answers /healthz and /readyz with 200', async () => {
    expect((await fetch(url('/healthz'))).status).toBe(200);
    expect((await fetch(url('/readyz'))).status).toBe(200);
  });

  it('answers /primary and /replica with 200 when the cluster has a primary and standbys', async () => {
    const primary = await fetch(url('/primary'));
    const replica = await fetch(url('/replica'));
    expect(primary.status).toBe(200);
    expect(replica.status).toBe(200);
    expect(((await primary.json()) as { primary: string }).primary).toBe(
      tp.proxy.discovery.current().primaryId,
    );
    expect(((await replica.json()) as { standbys: string[] }).standbys).toHaveLength(2);
  });

  it('answers HEAD like GET without a body', async () => {
    const res = await fetch(url('/primary'), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('describes the topology, pools and listeners in /status with LSNs as strings', async () => {
    const res = await fetch(url('/status'));
    expect(res.status).toBe(200);
    const status = (await res.json()) as {
      topology: {
        primary: string;
        instances: { id: string; role: string; currentLsn: unknown; replayLsn: unknown }[];
      };
      listeners: { mode: string; port: number }[];
      pools: unknown[];
      sessions: number;
      heldWrites: number;
      paused: boolean;
    };
    expect(status.topology.instances).toHaveLength(3);
    const primary = status.topology.instances.find((i) => i.id === status.topology.primary)!;
    expect(primary.role).toBe('primary');
    expect(primary.currentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    for (const s of status.topology.instances.filter((i) => i.role === 'standby'))
      expect(s.replayLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(status.listeners.map((l) => l.mode).sort()).toEqual(['auto', 'r', 'ro', 'rw']);
    expect(status.listeners.find((l) => l.mode === 'auto')!.port).toBe(tp.proxy.portOf('auto'));
    expect(status.paused).toBe(false);
    expect(status.heldWrites).toBe(0);
  });

  it('answers unknown paths with 404 without echoing them', async () => {
    const res = await fetch(url('/no-such-page-<script>'));
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('script');
  });
});
