// Integration: pgroute follows a CloudNativePG cluster through a fake Kubernetes API while real PostgreSQL serves its traffic.
//
// Discovery runs through @kubernetes/client-node against test/component/fake-kube-api.ts (list + chunked watch);
// the pods and EndpointSlices (test/harness/kube-cluster.ts) carry the private cluster's own addresses and ports.
// Scenarios run in order on one cluster: initial list, failover, scale-up, scale-down, watch faults, API outage.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { buildKubeConfig } from '../../discovery/kubernetes/kube-config.js';
import { KubernetesSource } from '../../discovery/kubernetes/kubernetes-source.js';
import type { TopologySnapshot } from '../../discovery/topology-view.js';
import { FakeKubeApi } from '../component/fake-kube-api.js';
import { KubeCluster } from '../harness/kube-cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const TABLE = 'kube_proxy_writes';
/** Pod names as CloudNativePG numbers them: pg3 joins later, pg2 comes back as a new pod. */
const POD = {
  pg0: 'mycluster-1',
  pg1: 'mycluster-2',
  pg2: 'mycluster-3',
  pg3: 'mycluster-4',
  pg2b: 'mycluster-5',
};
const OUTAGE_MS = 10_000;
const WAIT_MS = 15_000;

interface Served {
  client: string;
  startedAt: number;
  at: number;
  instance: string;
}

interface Failed {
  client: string;
  kind: 'read' | 'write';
  startedAt: number;
  at: number;
  code: string | null;
  message: string;
}

/** Readers SELECT and writers INSERT in a loop through one listener, recording which instance answered. */
class Traffic {
  readonly reads: Served[] = [];
  readonly writes: Served[] = [];
  readonly failures: Failed[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly clients: pg.Client[] = [];
  private isStopping = false;

  constructor(private readonly nameOfPort: (port: number) => string) {}

  async start(config: pg.ClientConfig, readers: number, writers: number): Promise<void> {
    const specs = [
      ...Array.from({ length: readers }, (_, i) => ({ name: `r${i}`, kind: 'read' as const })),
      ...Array.from({ length: writers }, (_, i) => ({ name: `w${i}`, kind: 'write' as const })),
    ];
    for (const { name, kind } of specs) {
      const client = new pg.Client({ ...config, application_name: `kube-${name}` });
      client.on('error', (error) => this.fail(name, kind, Date.now(), error));
      await client.connect();
      this.clients.push(client);
    }
    for (const [i, { name, kind }] of specs.entries())
      this.loops.push(this.run(this.clients[i]!, name, kind));
  }

  /** Reads that started in [from, to), counted per instance. */
  readsOn(from: number, to = Number.POSITIVE_INFINITY): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.reads)
      if (r.startedAt >= from && r.startedAt < to) counts[r.instance] = (counts[r.instance] ?? 0) + 1;
    return counts;
  }

  failuresOf(kind: 'read' | 'write' | 'any', from = 0, to = Number.POSITIVE_INFINITY): Failed[] {
    return this.failures.filter(
      (f) => (kind === 'any' || f.kind === kind) && f.at >= from && f.startedAt < to,
    );
  }

  /** Resolves with the time of the first read on `instance` that started at or after `since`. */
  async firstReadOn(instance: string, since: number, timeoutMs = WAIT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.reads.find((r) => r.instance === instance && r.startedAt >= since);
      if (found) return found.at;
      if (Date.now() > deadline) return 0;
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.isStopping = true;
    await Promise.all(this.loops);
    await Promise.all(this.clients.map((c) => c.end().catch(() => {})));
  }

  private async run(client: pg.Client, name: string, kind: 'read' | 'write'): Promise<void> {
    while (!this.isStopping) {
      const startedAt = Date.now();
      try {
        const result =
          kind === 'read'
            ? await client.query<{ port: number }>('SELECT inet_server_port() AS port')
            : await client.query<{ port: number }>(
                `INSERT INTO ${TABLE} (writer) VALUES ($1) RETURNING inet_server_port() AS port`,
                [name],
              );
        const served = {
          client: name,
          startedAt,
          at: Date.now(),
          instance: this.nameOfPort(result.rows[0]!.port),
        };
        (kind === 'read' ? this.reads : this.writes).push(served);
      } catch (error) {
        this.fail(name, kind, startedAt, error);
      }
      await sleep(2);
    }
  }

  private fail(client: string, kind: 'read' | 'write', startedAt: number, error: unknown): void {
    const e = error as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : null;
    this.failures.push({
      client,
      kind,
      startedAt,
      at: Date.now(),
      code,
      message: String(e.message ?? error),
    });
  }
}

let cluster: LocalCluster;
let api: FakeKubeApi;
let kube: KubeCluster;
let tp: TestProxy;
let traffic: Traffic;
const sourceErrors: string[] = [];
const timings: string[] = [];

const inst = (name: string) => cluster.instance(name);
const idOf = (name: string) => `${inst(name).host}:${inst(name).port}`;
const now = () => Date.now();
const current = () => tp.proxy.discovery.current();
const stateOf = (s: TopologySnapshot, name: string) => s.instances.find((i) => i.id === idOf(name));
const isReadable = (s: TopologySnapshot, name: string) => {
  const i = stateOf(s, name);
  return i?.role === 'standby' && i.isServing && i.health === 'up';
};
const readableStandbys = (s: TopologySnapshot) =>
  ['pg0', 'pg1', 'pg2', 'pg3'].filter((name) => isReadable(s, name));
/** Resolves with the time the topology first satisfied `predicate`. */
const waitForTopology = async (predicate: (s: TopologySnapshot) => boolean): Promise<number> => {
  await tp.proxy.discovery.waitFor(predicate, WAIT_MS);
  return now();
};
const member = (name: 'pg0' | 'pg1' | 'pg2' | 'pg3', role: 'primary' | 'replica', pod = POD[name]) => ({
  pod,
  host: inst(name).host,
  port: inst(name).port,
  role,
  isReady: true,
  isTerminating: false,
});
/** What routing depends on, without the lag figures every probe refreshes. */
const routingView = (s: TopologySnapshot) =>
  JSON.stringify([s.primaryId, s.instances.map((i) => [i.id, i.role, i.isServing, i.isWritable, i.health])]);

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 170, standbys: 3 });
  api = await FakeKubeApi.start();
  kube = new KubeCluster(api);
  kube.set(member('pg0', 'primary')).set(member('pg1', 'replica')).set(member('pg2', 'replica'));
  kube.loadInitial();
  const source = new KubernetesSource({
    target: { mode: 'cnpg', namespace: 'default', cluster: 'mycluster' },
    kubeConfig: buildKubeConfig({ kind: 'explicit', server: api.url, skipTLSVerify: true }),
    // Shorter than the 5 s production cap so the outage scenario fits the file's time budget.
    backoff: { initialMs: 100, maxMs: 1_000 },
    onError: (error, retryInMs, resource) =>
      sourceErrors.push(`${resource}: ${error.message} (${retryInMs} ms)`),
  });
  tp = await startTestProxy(
    cluster,
    { cluster: { hosts: [], kubernetes: { namespace: 'default', cluster: 'mycluster' } } },
    { sources: [source] },
  );
  const admin = new pg.Client(tp.params({ mode: 'rw' }));
  await admin.connect();
  await admin.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, writer text NOT NULL)`);
  await admin.end();
  const byPort = new Map(cluster.descriptor.instances.map((i) => [i.port, i.name]));
  traffic = new Traffic((port) => byPort.get(port) ?? `port ${port}`);
  await traffic.start(tp.params({ mode: 'auto' }), 4, 2);
});

afterAll(async () => {
  await traffic?.stop();
  console.log(
    [
      '[kubernetes-proxy] timings:',
      ...timings.map((t) => `  ${t}`),
      `  traffic: ${traffic?.reads.length} reads, ${traffic?.writes.length} writes, failures ${JSON.stringify(traffic?.failures.map((f) => `${f.kind} ${f.client} ${f.code}: ${f.message}`))}`,
      `  source errors: ${sourceErrors.length} (${[...new Set(sourceErrors.map((e) => e.replace(/\(\d+ ms\)/, '')))].join(' | ')})`,
    ].join('\n'),
  );
  await tp?.stop();
  await api?.close();
  await cluster?.destroy();
});

describe('initial list (pg0 labelled primary, pg1 and pg2 in -ro)', () => {
  let from = 0;
  let to = 0;
  beforeAll(async () => {
    from = now();
    await sleep(1_000);
    to = now();
  });

  it('makes pg0 the primary and the -ro instances the standbys', () => {
    const s = current();
    expect([s.primaryId, readableStandbys(s)]).toEqual([idOf('pg0'), ['pg1', 'pg2']]);
  });

  it('spreads reads over both standbys and nowhere else', () => {
    const reads = traffic.readsOn(from, to);
    expect(Object.keys(reads).sort()).toEqual(['pg1', 'pg2']);
  });

  it('sends writes to pg0', () => {
    const on = new Set(
      traffic.writes.filter((w) => w.startedAt >= from && w.startedAt < to).map((w) => w.instance),
    );
    expect([...on]).toEqual(['pg0']);
  });
});

describe('failover: pg0 killed, pg1 promoted, labels and -rw slice follow', () => {
  const m = { kill: 0, promoted: 0, switched: 0, repointed: 0, end: 0 };
  beforeAll(async () => {
    m.kill = now();
    await cluster.stop('pg0', 'immediate');
    // The readiness probe fails first, then the operator promotes and relabels.
    kube.update(POD.pg0, { isReady: false }).publish();
    await cluster.promote('pg1');
    m.promoted = now();
    kube.update(POD.pg1, { role: 'primary' }).update(POD.pg0, { role: 'replica' }).publish();
    m.switched = await waitForTopology((s) => s.primaryId === idOf('pg1'));
    await cluster.repoint('pg2', 'pg1');
    await cluster.repoint('pg3', 'pg1');
    m.repointed = now();
    await waitForTopology((s) => isReadable(s, 'pg2'));
    await sleep(1_000);
    m.end = now();
    timings.push(
      `failover: promote returned +${m.promoted - m.kill} ms, pgroute primary pg1 +${m.switched - m.kill} ms, ` +
        `first write on pg1 +${(traffic.writes.find((w) => w.at >= m.switched && w.instance === 'pg1')?.at ?? m.kill) - m.kill} ms`,
    );
  });

  it('gives readers no errors', () => {
    expect(traffic.failuresOf('read', m.kill, m.end)).toEqual([]);
  });

  it('resumes writes on pg1 for every writer', () => {
    const after = traffic.writes.filter((w) => w.startedAt >= m.switched && w.startedAt < m.end);
    expect([
      [...new Set(after.map((w) => w.instance))],
      [...new Set(after.map((w) => w.client))].sort(),
    ]).toEqual([['pg1'], ['w0', 'w1']]);
  });

  it('makes pg1 writable with Kubernetes agreeing it is the primary', () => {
    const pg1 = stateOf(current(), 'pg1');
    expect([pg1?.isWritable, pg1?.sourceRole]).toEqual([true, 'primary']);
  });

  it('takes the not-ready old primary out of service', () => {
    expect(stateOf(current(), 'pg0')?.isServing).toBe(false);
  });

  it('reads from the remaining standby pg2 once it follows pg1', () => {
    expect(Object.keys(traffic.readsOn(m.repointed, m.end))).toEqual(['pg2']);
  });
});

describe('scale-up: pg3 joins -ro and -r', () => {
  const m = { added: 0, ready: 0, routable: 0, firstRead: 0, end: 0 };
  beforeAll(async () => {
    m.added = now();
    kube.set({ ...member('pg3', 'replica'), isReady: false }).publish();
    // Probed (a standby, up) before it is ready, as the pod's readiness probe takes a while.
    await waitForTopology((s) => stateOf(s, 'pg3')?.role === 'standby' && stateOf(s, 'pg3')?.health === 'up');
    m.ready = now();
    kube.update(POD.pg3, { isReady: true }).publish();
    m.routable = await waitForTopology((s) => isReadable(s, 'pg3'));
    m.firstRead = await traffic.firstReadOn('pg3', m.ready);
    await sleep(500);
    m.end = now();
    timings.push(
      `scale-up: pg3 ready published -> routable +${m.routable - m.ready} ms, first read served +${m.firstRead - m.ready} ms (goal 1000 ms)`,
    );
  });

  it('sends no read to pg3 before it is ready', () => {
    expect(traffic.readsOn(m.added, m.ready).pg3).toBeUndefined();
  });

  it('sends reads to pg3 once it is ready', () => {
    expect(m.firstRead).toBeGreaterThan(0);
  });

  it('spreads reads over pg2 and pg3', () => {
    expect(Object.keys(traffic.readsOn(m.firstRead, m.end)).sort()).toEqual(['pg2', 'pg3']);
  });

  it('gives readers no errors', () => {
    expect(traffic.failuresOf('read', m.added, m.end)).toEqual([]);
  });
});

describe('scale-down: pg2 terminating, stopped, then removed', () => {
  const m = { terminating: 0, drained: 0, removed: 0, end: 0 };
  beforeAll(async () => {
    m.terminating = now();
    kube.update(POD.pg2, { isTerminating: true }).publish();
    m.drained = await waitForTopology((s) => stateOf(s, 'pg2')?.isServing === false);
    // Reads already running there finish; then the pod's postgres shuts down, as the kubelet would stop it.
    await sleep(300);
    await cluster.stop('pg2', 'fast');
    kube.remove(POD.pg2).publish();
    m.removed = await waitForTopology((s) => stateOf(s, 'pg2') === undefined);
    await sleep(500);
    m.end = now();
    timings.push(`scale-down: pg2 terminating published -> out of rotation +${m.drained - m.terminating} ms`);
  });

  it('gives readers no errors', () => {
    expect(traffic.failuresOf('read', m.terminating, m.end)).toEqual([]);
  });

  it('sends no read to pg2 once it is terminating', () => {
    expect(traffic.readsOn(m.drained).pg2).toBeUndefined();
  });

  it('drops pg2 from the topology once its pod and endpoints are gone', () => {
    expect(stateOf(current(), 'pg2')).toBeUndefined();
  });

  it('keeps reading from pg3', () => {
    expect(Object.keys(traffic.readsOn(m.drained, m.end))).toEqual(['pg3']);
  });
});

describe('watch faults: a dropped stream, then 410 Gone', () => {
  const m = { dropped: 0, resumed: 0, compacted: 0, relisted: 0, firstRead: 0, end: 0 };
  let dropRequests = 0;
  let goneRequests = 0;
  beforeAll(async () => {
    dropRequests = api.requests.length;
    m.dropped = now();
    api.dropWatches();
    // The operator deletes the failed old primary while the streams are down.
    kube.remove(POD.pg0).publish();
    m.resumed = await waitForTopology((s) => stateOf(s, 'pg0') === undefined);

    // pg2 comes back as a new pod while the history is compacted away: only a relist can show it.
    await cluster.startInstance('pg2');
    kube.set(member('pg2', 'replica', POD.pg2b)).publishSilently();
    goneRequests = api.requests.length;
    m.compacted = now();
    api.compact('endpointslices', 'event');
    api.dropWatches('pods');
    api.compact('pods', 'http');
    m.relisted = await waitForTopology((s) => isReadable(s, 'pg2'));
    m.firstRead = await traffic.firstReadOn('pg2', m.relisted);
    await sleep(500);
    m.end = now();
    timings.push(
      `watch faults: drop -> pg0 deletion applied +${m.resumed - m.dropped} ms; 410 -> pg2 routable +${m.relisted - m.compacted} ms`,
    );
  });

  it('resumes the dropped watches from their resourceVersion without relisting', () => {
    const after = api.requests.slice(dropRequests, goneRequests);
    const resumed = after.filter((r) => r.isWatch && Number(r.resourceVersion) > 0).map((r) => r.resource);
    expect([after.filter((r) => !r.isWatch), [...new Set(resumed)].sort()]).toEqual([
      [],
      ['endpointslices', 'pods'],
    ]);
  });

  it('drops the deleted old primary seen on the resumed watch', () => {
    expect(stateOf(current(), 'pg0')).toBeUndefined();
  });

  it('relists both resources after 410 Gone (ERROR event and HTTP 410)', () => {
    const after = api.requests.slice(goneRequests);
    const gone = after.find((r) => r.resource === 'pods' && r.isWatch && r.status === 410);
    const lists = new Set(after.filter((r) => !r.isWatch).map((r) => r.resource));
    expect([gone !== undefined, [...lists].sort()]).toEqual([true, ['endpointslices', 'pods']]);
  });

  it('routes reads to the instance only the relist showed', () => {
    expect(m.firstRead).toBeGreaterThan(0);
  });

  it('keeps pg1 the primary and readers error-free', () => {
    expect([current().primaryId, traffic.failuresOf('read', m.dropped, m.end)]).toEqual([idOf('pg1'), []]);
  });
});

describe('API server away for 10 s', () => {
  const m = { away: 0, back: 0, published: 0, pickedUp: 0, end: 0 };
  const views: string[] = [];
  let before = '';
  let outageReads: Record<string, number> = {};
  beforeAll(async () => {
    before = routingView(current());
    await api.goAway();
    m.away = now();
    while (now() - m.away < OUTAGE_MS) {
      await sleep(500);
      views.push(routingView(current()));
    }
    m.back = now();
    outageReads = traffic.readsOn(m.away, m.back);
    await api.comeBack();
    kube.update(POD.pg3, { isTerminating: true }).publish();
    m.published = now();
    m.pickedUp = await waitForTopology((s) => stateOf(s, 'pg3')?.isServing === false);
    await sleep(500);
    m.end = now();
    timings.push(
      `outage: change published after the API returned -> applied +${m.pickedUp - m.published} ms`,
    );
  }, 40_000);

  it('serves every read and write while the API is away', () => {
    expect(traffic.failuresOf('any', m.away, m.back)).toEqual([]);
  });

  it('keeps the last known topology while the API is away', () => {
    expect(views.filter((v) => v !== before)).toEqual([]);
  });

  it('keeps reading from pg2 and pg3 during the outage', () => {
    expect(Object.keys(outageReads).sort()).toEqual(['pg2', 'pg3']);
  });

  it('applies a change published after the API returns', () => {
    expect(Object.keys(traffic.readsOn(m.pickedUp, m.end))).toEqual(['pg2']);
  });
});

describe('the whole run', () => {
  it('gives readers no error at any point', () => {
    expect(traffic.failuresOf('read')).toEqual([]);
  });
});
