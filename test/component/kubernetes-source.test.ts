// Component: KubernetesSource (real @kubernetes/client-node) against the fake API server serving CloudNativePG fixtures.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SourceEndpoint } from '../../discovery/endpoint-source.js';
import { buildKubeConfig } from '../../discovery/kubernetes/kube-config.js';
import {
  KubernetesSource,
  type KubernetesSourceOptions,
} from '../../discovery/kubernetes/kubernetes-source.js';
import { FakeKubeApi } from './fake-kube-api.js';
import { loadCnpgFixtures } from './kubernetes-fixtures.js';

const PRIMARY_1 = '127.0.77.1';
const REPLICA_2 = '127.0.77.2';
const REPLICA_3 = '127.0.77.3';
const REPLACEMENT_4 = '127.0.77.4';

let api: FakeKubeApi;
let source: KubernetesSource | undefined;
let emissions: SourceEndpoint[][];
let waiters: Array<() => void>;
const fixtures = loadCnpgFixtures();

beforeEach(async () => {
  api = await FakeKubeApi.start();
  api.load('endpointslices', fixtures.slices);
  api.load('pods', fixtures.pods);
  emissions = [];
  waiters = [];
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await api.close();
});

async function startSource(overrides: Partial<KubernetesSourceOptions> = {}): Promise<KubernetesSource> {
  source = new KubernetesSource({
    target: { mode: 'cnpg', namespace: 'default', cluster: 'mycluster' },
    kubeConfig: buildKubeConfig({ kind: 'explicit', server: api.url, skipTLSVerify: true }),
    backoff: { initialMs: 50, maxMs: 400 },
    ...overrides,
  });
  await source.start((endpoints) => {
    emissions.push(endpoints);
    waiters.splice(0).forEach((wake) => {
      wake();
    });
  });
  return source;
}

/** Resolves with the first emission (already seen or future) that satisfies `predicate`. */
async function waitForEndpoints(
  predicate: (endpoints: SourceEndpoint[]) => boolean,
): Promise<SourceEndpoint[]> {
  for (;;) {
    const found = emissions.find(predicate);
    if (found !== undefined) return found;
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
}

const at = (endpoints: SourceEndpoint[], host: string) =>
  endpoints.find((endpoint) => endpoint.host === host);
const primaryHosts = (endpoints: SourceEndpoint[]) =>
  endpoints.filter((endpoint) => endpoint.roleHint === 'primary').map((endpoint) => endpoint.host);
const isFailedOver = (endpoints: SourceEndpoint[]) =>
  primaryHosts(endpoints).join() === REPLICA_2 && at(endpoints, REPLACEMENT_4)?.isServing === true;

function replayFailover(): void {
  for (const event of fixtures.sliceEvents) api.applyEvent('endpointslices', event);
  for (const event of fixtures.podEvents) api.applyEvent('pods', event);
}

describe('KubernetesSource (CloudNativePG) initial list', () => {
  it('emits the three instances of the initial list', async () => {
    await startSource();
    expect(emissions[0]?.map((endpoint) => endpoint.host)).toEqual([PRIMARY_1, REPLICA_2, REPLICA_3]);
  });

  it('hints the labelled primary', async () => {
    await startSource();
    expect(primaryHosts(emissions[0] ?? [])).toEqual([PRIMARY_1]);
  });

  it('lists endpoint slices of the -rw, -ro and -r services only', async () => {
    await startSource();
    const list = await api.waitForRequest(
      (request) => request.resource === 'endpointslices' && !request.isWatch,
    );
    expect(list.labelSelector).toBe('kubernetes.io/service-name in (mycluster-rw,mycluster-ro,mycluster-r)');
  });

  it('watches from the resourceVersion of the list, asking for bookmarks', async () => {
    await startSource();
    const watch = await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    expect([watch.resourceVersion, watch.allowWatchBookmarks]).toEqual([String(api.resourceVersion), true]);
  });
});

describe('KubernetesSource following a failover', () => {
  it('stops serving the old primary when its endpoint turns terminating', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'endpointslices' && request.isWatch);
    api.applyEvent('endpointslices', fixtures.sliceEvents[0]!);
    const endpoints = await waitForEndpoints((next) => at(next, PRIMARY_1)?.isServing === false);
    expect(at(endpoints, REPLICA_2)?.isServing).toBe(true);
  });

  it('moves the primary hint to the promoted instance', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    replayFailover();
    const endpoints = await waitForEndpoints(isFailedOver);
    expect(primaryHosts(endpoints)).toEqual([REPLICA_2]);
  });

  it('drops the deleted primary and adds its replacement', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    replayFailover();
    const endpoints = await waitForEndpoints(isFailedOver);
    expect(endpoints.map((endpoint) => endpoint.host)).toEqual([REPLICA_2, REPLICA_3, REPLACEMENT_4]);
  });
});

describe('KubernetesSource watch protocol', () => {
  it('resumes from the resourceVersion of the last BOOKMARK', async () => {
    const started = await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    const bookmarked = api.bookmark('pods');
    await waitUntil(() => started.resourceVersions().pods === String(bookmarked));
    const from = api.requests.length;
    api.dropWatches('pods');
    const rewatch = await api.waitForRequest(
      (request) => request.resource === 'pods' && request.isWatch,
      from,
    );
    expect(rewatch.resourceVersion).toBe(String(bookmarked));
  });

  it('relists after a 410 Gone ERROR event and ends up with the current state', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    // The failover happens while the history is compacted away: only a relist can show it.
    replayFailoverSilently();
    const from = api.requests.length;
    api.compact('endpointslices', 'event');
    api.compact('pods', 'event');
    await api.waitForRequest((request) => request.resource === 'pods' && !request.isWatch, from);
    const endpoints = await waitForEndpoints(isFailedOver);
    expect(endpoints.map((endpoint) => endpoint.host)).toEqual([REPLICA_2, REPLICA_3, REPLACEMENT_4]);
  });

  it('relists after an HTTP 410 answers the rewatch of a dropped stream', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    replayFailoverSilently();
    const from = api.requests.length;
    // Cut the streams first, so the history is gone by the time the watcher comes back with its old version.
    api.dropWatches();
    api.compact('pods', 'http');
    api.compact('endpointslices', 'http');
    const gone = await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch, from);
    await api.waitForRequest((request) => request.resource === 'pods' && !request.isWatch, from);
    const endpoints = await waitForEndpoints(isFailedOver);
    expect([gone.status, primaryHosts(endpoints)]).toEqual([410, [REPLICA_2]]);
  });

  it('resumes a dropped stream and receives what happened meanwhile', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    api.dropWatches();
    replayFailover();
    const endpoints = await waitForEndpoints(isFailedOver);
    expect(primaryHosts(endpoints)).toEqual([REPLICA_2]);
  });

  it('does not relist after a dropped stream', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    const from = api.requests.length;
    api.dropWatches();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch, from);
    expect(api.requests.slice(from).filter((request) => !request.isWatch)).toEqual([]);
  });

  it('rewatches from the same resourceVersion after a non-410 ERROR event', async () => {
    const started = await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    const resumeFrom = started.resourceVersions().pods;
    const from = api.requests.length;
    api.failWatches('pods', 500);
    const rewatch = await api.waitForRequest((request) => request.resource === 'pods', from);
    expect([rewatch.isWatch, rewatch.resourceVersion]).toEqual([true, resumeFrom]);
  });

  it('retries a failing list with backoff until it succeeds', async () => {
    const errors: number[] = [];
    api.failRequests(4, 500);
    await startSource({ onError: (_error, retryInMs) => errors.push(retryInMs) });
    await waitForEndpoints((endpoints) => endpoints.length === 3);
    expect(errors.length).toBeGreaterThanOrEqual(1);
  });
});

describe('KubernetesSource while the API server is away', () => {
  it('keeps the last known endpoints while the API is away', async () => {
    const started = await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    const before = started.currentEndpoints();
    await api.goAway();
    await sleep(2_000);
    const during = started.currentEndpoints();
    await api.comeBack();
    expect(during).toEqual(before);
  });

  it('emits nothing while the API is away', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    const count = emissions.length;
    await api.goAway();
    await sleep(2_000);
    const during = emissions.length;
    await api.comeBack();
    expect(during).toBe(count);
  });

  it('catches up with what changed while the API was away', async () => {
    await startSource();
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    await api.goAway();
    replayFailover();
    await sleep(2_000);
    await api.comeBack();
    const endpoints = await waitForEndpoints(isFailedOver);
    expect(primaryHosts(endpoints)).toEqual([REPLICA_2]);
  });

  it('backs off up to the 5 s cap through a 10 s outage, then resumes', async () => {
    const retryDelays: number[] = [];
    await startSource({ backoff: undefined, onError: (_error, retryInMs) => retryDelays.push(retryInMs) });
    await api.waitForRequest((request) => request.resource === 'pods' && request.isWatch);
    await api.goAway();
    replayFailover();
    await sleep(10_000);
    await api.comeBack();
    await waitForEndpoints(isFailedOver);
    expect(Math.max(...retryDelays)).toBe(5_000);
  }, 30_000);
});

describe('KubernetesSource generic modes', () => {
  it('lists a plain Service without role hints', async () => {
    await startSource({ target: { mode: 'service', namespace: 'default', service: 'mycluster-r' } });
    expect(emissions[0]?.map((endpoint) => [endpoint.host, endpoint.roleHint])).toEqual([
      [PRIMARY_1, null],
      [REPLICA_2, null],
      [REPLICA_3, null],
    ]);
  });

  it('lists pods by label selector on a named port', async () => {
    await startSource({
      target: {
        mode: 'pods',
        namespace: 'default',
        labelSelector: 'cnpg.io/cluster=mycluster',
        port: 'postgresql',
      },
    });
    expect(emissions[0]?.map((endpoint) => `${endpoint.host}:${endpoint.port}`)).toEqual([
      `${PRIMARY_1}:5432`,
      `${REPLICA_2}:5432`,
      `${REPLICA_3}:5432`,
    ]);
  });

  it('sees nothing of another namespace', async () => {
    await startSource({ target: { mode: 'cnpg', namespace: 'other', cluster: 'mycluster' } });
    expect(emissions).toEqual([[]]);
  });
});

/** Applies the failover's final state to the store without watch events (as if they were compacted away). */
function replayFailoverSilently(): void {
  const apply = (
    items: typeof fixtures.slices.items,
    events: typeof fixtures.sliceEvents,
  ): typeof fixtures.slices.items => {
    const byName = new Map(items.map((item) => [item.metadata?.name, item]));
    for (const event of events) {
      if (event.type === 'DELETED') byName.delete(event.object.metadata?.name);
      else byName.set(event.object.metadata?.name, event.object);
    }
    return [...byName.values()];
  };
  api.replaceSilently('endpointslices', apply(fixtures.slices.items, fixtures.sliceEvents));
  api.replaceSilently('pods', apply(fixtures.pods.items, fixtures.podEvents));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(10);
}
