// The Prometheus registry reads a proxy's counters, pools, sessions and topology at scrape time.

import { register as globalRegister } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { InstanceState, TopologySnapshot } from '../../discovery/topology-view.js';
import type { MetricsSource, PoolView, SessionView, StatsView } from '../../metrics/metrics-source.js';
import { buildMetricsRegistry } from '../../metrics/registry.js';
import { FixedHistogram } from '../../proxy/stats.js';
import { instanceState } from '../harness/instance-state.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format 0.0.4, enough of it for these tests. */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function pick(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = pick(samples, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function instance(id: string, over: Partial<InstanceState>): InstanceState {
  return instanceState(id, 'standby', {
    systemIdentifier: '7000000000000000001',
    replayLsn: 0x3000148n,
    lastProbeAt: 1_700_000_000_000,
    ...over,
  });
}

function session(id: number, over: Partial<SessionView>): SessionView {
  return {
    id,
    user: 'app',
    database: 'appdb',
    listener: 'auto@127.0.0.1:6432',
    state: 'idle',
    txStatus: 'I',
    pinReason: null,
    server: null,
    connectedAt: 1_700_000_000_000,
    lastRoute: null,
    ...over,
  };
}

function pool(
  instanceId: string,
  st: ReturnType<PoolView['stats']>,
  totals = { acquired: 0, waitMs: 0 },
): PoolView {
  const [host, port] = instanceId.split(':');
  return {
    key: { instanceId, host: host!, port: Number(port), user: 'app', database: 'appdb' },
    stats: () => st,
    totalAcquired: totals.acquired,
    totalWaitMs: totals.waitMs,
  };
}

/** A stats map key: label values joined with NUL, as ProxyStats builds them. */
const k = (...parts: string[]): string => parts.join('\0');

type MutableStats = { -readonly [K in keyof StatsView]: StatsView[K] } & {
  poolWait: FixedHistogram;
  requestDuration: FixedHistogram;
};

function fakeSource() {
  const stats: MutableStats = {
    routed: new Map([
      [k('auto@127.0.0.1:6432', 'standby', '127.0.0.3:5432', 'read'), 7],
      [k('auto@127.0.0.1:6432', 'standby', '127.0.0.4:5432', 'read'), 5],
      [k('auto@127.0.0.1:6432', 'primary', '127.0.0.2:5432', 'write'), 3],
    ]),
    errors: new Map([
      [k('42', 'server'), 4],
      [k('57', 'proxy'), 1],
    ]),
    pins: new Map([['advisory-lock', 2]]),
    transactions: new Map([
      [k('auto@127.0.0.1:6432', 'primary'), 11],
      [k('auto@127.0.0.1:6432', 'standby'), 13],
    ]),
    poolWait: new FixedHistogram([0.001, 0.01, 0.1]),
    requestDuration: new FixedHistogram([0.001, 0.01, 0.1]),
    bytesFromClients: 1234,
    bytesToClients: 56789,
    authFailures: 2,
    answeredLocally: 6,
    loginsFromCache: 40,
    loginsFromServer: 3,
  };
  const snapshot: TopologySnapshot = {
    version: 42,
    primaryId: '127.0.0.2:5432',
    reason: 'test',
    isLagOnly: false,
    instances: [
      instance('127.0.0.2:5432', {
        role: 'primary',
        isWritable: true,
        timeline: 3,
        currentLsn: 0x3000200n,
        replayLsn: null,
      }),
      instance('127.0.0.3:5432', { lagBytes: 184, lagSeconds: 0.5, timeline: 3 }),
      instance('127.0.0.4:5432', { health: 'down', isEligible: false, lagBytes: null, lagSeconds: null }),
    ],
  };
  const router = { heldCount: 4, paused: false };
  const sessions = new Set<SessionView>([
    session(1, { state: 'active', pinReason: 'advisory-lock' }),
    session(2, { state: 'active' }),
    session(3, { state: 'waiting' }),
    session(4, { state: 'idle', listener: 'rw@127.0.0.1:6433' }),
    session(5, { state: 'closed' }),
  ]);
  const classifier: { cacheHits?: number; cacheMisses?: number } = {};
  const source: MetricsSource = {
    listeners: [
      {
        name: 'auto@127.0.0.1:6432',
        options: { host: '127.0.0.1', port: 6432, mode: 'auto' },
        port: 6432,
        sessions,
        authFailures: 2,
      },
      {
        name: 'rw@127.0.0.1:6433',
        options: { host: '127.0.0.1', port: 6433, mode: 'rw' },
        port: 6433,
        sessions: new Set(),
        authFailures: 0,
      },
    ],
    discovery: { current: () => snapshot },
    pools: {
      all: () => [
        pool(
          '127.0.0.2:5432',
          { active: 3, idle: 2, connecting: 1, waiting: 5, maxWaitMs: 1500 },
          { acquired: 90, waitMs: 2500 },
        ),
        pool('127.0.0.3:5432', { active: 1, idle: 0, connecting: 0, waiting: 0, maxWaitMs: 0 }),
      ],
    },
    router,
    sessions,
    stats,
    classifier,
    turns: { isBusy: true, readsPerTurn: 31.5 },
    startedAt: 1_700_000_000_000,
  };
  return { source, stats, router, classifier };
}

async function scrape(source: MetricsSource): Promise<Sample[]> {
  return parseExposition(await buildMetricsRegistry(source, { hasProcessMetrics: false }).metrics());
}

describe('buildMetricsRegistry', () => {
  it('reports routed requests with the counts and labels the proxy counted', async () => {
    const samples = await scrape(fakeSource().source);
    expect(pick(samples, 'pgroute_requests_routed_total').map((s) => [s.labels, s.value])).toEqual([
      [{ listener: 'auto@127.0.0.1:6432', role: 'standby', instance: '127.0.0.3:5432', reason: 'read' }, 7],
      [{ listener: 'auto@127.0.0.1:6432', role: 'standby', instance: '127.0.0.4:5432', reason: 'read' }, 5],
      [{ listener: 'auto@127.0.0.1:6432', role: 'primary', instance: '127.0.0.2:5432', reason: 'write' }, 3],
    ]);
  });

  it('reads the counters again at every scrape', async () => {
    const { source, stats } = fakeSource();
    const registry = buildMetricsRegistry(source, { hasProcessMetrics: false });
    const before = parseExposition(await registry.metrics());
    (stats.routed as Map<string, number>).set(
      k('auto@127.0.0.1:6432', 'standby', '127.0.0.3:5432', 'read'),
      17,
    );
    stats.bytesFromClients = 9999;
    const after = parseExposition(await registry.metrics());
    const labels = { instance: '127.0.0.3:5432' };
    expect(sampleValue(before, 'pgroute_requests_routed_total', labels)).toBe(7);
    expect(sampleValue(after, 'pgroute_requests_routed_total', labels)).toBe(17);
    expect(sampleValue(after, 'pgroute_client_received_bytes_total')).toBe(9999);
  });

  it('reports transactions by listener and role and errors by SQLSTATE class and origin', async () => {
    const samples = await scrape(fakeSource().source);
    expect(sampleValue(samples, 'pgroute_transactions_total', { role: 'primary' })).toBe(11);
    expect(sampleValue(samples, 'pgroute_transactions_total', { role: 'standby' })).toBe(13);
    expect(sampleValue(samples, 'pgroute_errors_total', { class: '42', origin: 'server' })).toBe(4);
    expect(sampleValue(samples, 'pgroute_errors_total', { class: '57', origin: 'proxy' })).toBe(1);
  });

  it('counts client connections by listener and state, with zeros for empty states and closed ones left out', async () => {
    const samples = await scrape(fakeSource().source);
    const auto = { listener: 'auto@127.0.0.1:6432' };
    expect(sampleValue(samples, 'pgroute_client_connections', { ...auto, state: 'active' })).toBe(2);
    expect(sampleValue(samples, 'pgroute_client_connections', { ...auto, state: 'waiting' })).toBe(1);
    expect(sampleValue(samples, 'pgroute_client_connections', { ...auto, state: 'idle' })).toBe(0);
    expect(sampleValue(samples, 'pgroute_client_connections', { ...auto, state: 'login' })).toBe(0);
    expect(
      sampleValue(samples, 'pgroute_client_connections', { listener: 'rw@127.0.0.1:6433', state: 'idle' }),
    ).toBe(1);
    expect(pick(samples, 'pgroute_client_connections', { state: 'closed' })).toEqual([]);
  });

  it('reports server connections by instance, topology role and pool state', async () => {
    const samples = await scrape(fakeSource().source);
    const primary = { instance: '127.0.0.2:5432', role: 'primary', user: 'app', database: 'appdb' };
    expect(sampleValue(samples, 'pgroute_server_connections', { ...primary, state: 'active' })).toBe(3);
    expect(sampleValue(samples, 'pgroute_server_connections', { ...primary, state: 'idle' })).toBe(2);
    expect(sampleValue(samples, 'pgroute_server_connections', { ...primary, state: 'login' })).toBe(1);
    expect(
      sampleValue(samples, 'pgroute_server_connections', { instance: '127.0.0.3:5432', state: 'active' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'pgroute_server_connections', { instance: '127.0.0.3:5432', state: 'idle' }),
    ).toBe(0);
    expect(sampleValue(samples, 'pgroute_pool_waiting_clients', { instance: '127.0.0.2:5432' })).toBe(5);
    expect(sampleValue(samples, 'pgroute_pool_max_wait_seconds', { instance: '127.0.0.2:5432' })).toBe(1.5);
    expect(sampleValue(samples, 'pgroute_pool_acquired_total', { instance: '127.0.0.2:5432' })).toBe(90);
    expect(sampleValue(samples, 'pgroute_pool_wait_seconds_total', { instance: '127.0.0.2:5432' })).toBe(2.5);
  });

  it('exposes a FixedHistogram as cumulative buckets with +Inf equal to the count', async () => {
    const { source, stats } = fakeSource();
    for (const v of [0.0005, 0.005, 0.005, 0.05, 3]) stats.requestDuration.observe(v);
    const samples = await scrape(source);
    const bucket = (le: string) => sampleValue(samples, 'pgroute_request_duration_seconds_bucket', { le });
    expect([bucket('0.001'), bucket('0.01'), bucket('0.1'), bucket('+Inf')]).toEqual([1, 3, 4, 5]);
    expect(sampleValue(samples, 'pgroute_request_duration_seconds_count')).toBe(5);
    expect(sampleValue(samples, 'pgroute_request_duration_seconds_sum')).toBeCloseTo(3.0605, 10);
  });

  it('reports role, health, writability, timeline and lag of every instance', async () => {
    const samples = await scrape(fakeSource().source);
    expect(
      sampleValue(samples, 'pgroute_instance_role', { instance: '127.0.0.2:5432', role: 'primary' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'pgroute_instance_role', { instance: '127.0.0.2:5432', role: 'standby' }),
    ).toBe(0);
    expect(
      sampleValue(samples, 'pgroute_instance_role', { instance: '127.0.0.3:5432', role: 'standby' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'pgroute_instance_health', { instance: '127.0.0.4:5432', health: 'down' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'pgroute_instance_health', { instance: '127.0.0.4:5432', health: 'up' }),
    ).toBe(0);
    expect(sampleValue(samples, 'pgroute_instance_writable', { instance: '127.0.0.2:5432' })).toBe(1);
    expect(sampleValue(samples, 'pgroute_instance_writable', { instance: '127.0.0.3:5432' })).toBe(0);
    expect(sampleValue(samples, 'pgroute_instance_timeline', { instance: '127.0.0.3:5432' })).toBe(3);
    expect(
      sampleValue(samples, 'pgroute_instance_replication_lag_bytes', { instance: '127.0.0.3:5432' }),
    ).toBe(184);
    expect(
      sampleValue(samples, 'pgroute_instance_replication_lag_seconds', { instance: '127.0.0.3:5432' }),
    ).toBe(0.5);
    // Unknown lag is absent, not 0: 0 would claim the instance is caught up.
    expect(pick(samples, 'pgroute_instance_replication_lag_bytes', { instance: '127.0.0.4:5432' })).toEqual(
      [],
    );
    expect(sampleValue(samples, 'pgroute_primary_known')).toBe(1);
  });

  it('reports held writes, pause state, pins and auth failures', async () => {
    const { source, router } = fakeSource();
    router.paused = true;
    const samples = await scrape(source);
    expect(sampleValue(samples, 'pgroute_held_writes')).toBe(4);
    expect(sampleValue(samples, 'pgroute_paused')).toBe(1);
    expect(sampleValue(samples, 'pgroute_reply_batching')).toBe(1);
    expect(sampleValue(samples, 'pgroute_event_loop_reads_per_turn')).toBe(31.5);
    expect(sampleValue(samples, 'pgroute_pinned_clients', { reason: 'advisory-lock' })).toBe(1);
    expect(sampleValue(samples, 'pgroute_pins_total', { reason: 'advisory-lock' })).toBe(2);
    expect(sampleValue(samples, 'pgroute_auth_failures_total', { listener: 'auto@127.0.0.1:6432' })).toBe(2);
    expect(sampleValue(samples, 'pgroute_client_sent_bytes_total')).toBe(56789);
    expect(sampleValue(samples, 'pgroute_requests_answered_locally_total')).toBe(6);
    expect(sampleValue(samples, 'pgroute_client_logins_total', { source: 'cache' })).toBe(40);
    expect(sampleValue(samples, 'pgroute_client_logins_total', { source: 'server' })).toBe(3);
  });

  it('leaves out failover and cache series the proxy does not track, and reports them once it does', async () => {
    const { source, stats, classifier } = fakeSource();
    const absent = await scrape(source);
    for (const name of [
      'pgroute_failovers_total',
      'pgroute_switchovers_total',
      'pgroute_last_failover_duration_seconds',
      'pgroute_classifier_cache_hits_total',
    ])
      expect(pick(absent, name)).toEqual([]);
    Object.assign(stats, { failovers: 2, switchovers: 1, lastFailoverSeconds: 4.25 });
    Object.assign(classifier, { cacheHits: 100, cacheMisses: 7 });
    const present = await scrape(source);
    expect(sampleValue(present, 'pgroute_failovers_total')).toBe(2);
    expect(sampleValue(present, 'pgroute_switchovers_total')).toBe(1);
    expect(sampleValue(present, 'pgroute_last_failover_duration_seconds')).toBe(4.25);
    expect(sampleValue(present, 'pgroute_classifier_cache_hits_total')).toBe(100);
    expect(sampleValue(present, 'pgroute_classifier_cache_misses_total')).toBe(7);
  });

  it('uses only bounded label names and never carries SQL or client addresses', async () => {
    const { source } = fakeSource();
    // Fields a session might grow; none of them may reach a label.
    for (const s of source.sessions)
      Object.assign(s, { lastQuery: 'SELECT secret FROM t', remoteAddress: '10.9.8.7' });
    const text = await buildMetricsRegistry(source, { hasProcessMetrics: false }).metrics();
    const allowed = new Set([
      'listener',
      'state',
      'instance',
      'role',
      'user',
      'database',
      'reason',
      'class',
      'origin',
      'health',
      'source',
      'le',
    ]);
    const names = new Set(parseExposition(text).flatMap((s) => Object.keys(s.labels)));
    expect([...names].filter((n) => !allowed.has(n))).toEqual([]);
    expect(text).not.toContain('SELECT');
    expect(text).not.toContain('10.9.8.7');
  });

  it('names every metric pgroute_ and suffixes counters with _total', async () => {
    const text = await buildMetricsRegistry(fakeSource().source).metrics();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
    expect(types.length).toBeGreaterThan(20);
    expect(types.filter(([n]) => !n.startsWith('pgroute_'))).toEqual([]);
    expect(types.filter(([n, t]) => t === 'counter' && !n.endsWith('_total'))).toEqual([]);
    expect(types.map(([n]) => n)).toContain('pgroute_process_cpu_seconds_total');
  });

  it('registers nothing in the prom-client global registry', async () => {
    await buildMetricsRegistry(fakeSource().source).metrics();
    expect(globalRegister.getMetricsAsArray()).toEqual([]);
  });
});
