// Unit tests: Kubernetes objects (CloudNativePG fixtures) -> SourceEndpoint[].
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SourceEndpoint } from '../../discovery/endpoint-source.js';
import type { EndpointSliceLike, KubeList, PodLike } from '../../discovery/kubernetes/kube-objects.js';
import {
  isEndpointServing,
  mapCnpgEndpoints,
  mapPodEndpoints,
  mapServiceEndpoints,
} from '../../discovery/kubernetes/map-endpoints.js';

const FIXTURES = new URL('../../../shared/fixtures/kubernetes/cnpg-mycluster/', import.meta.url);
const readJson = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
const readEvents = <T>(name: string) =>
  readFileSync(new URL(name, FIXTURES), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { type: string; object: T });

const PRIMARY_1 = '10.244.125.198';
const REPLICA_2 = '10.244.155.112';
const REPLICA_3 = '10.244.125.219';
const REPLACEMENT_4 = '10.244.140.231';

/** A client-side cache of one resource kind, keyed by name, fed with list and watch events in order. */
class ObjectCache<T extends { metadata?: { name?: string; resourceVersion?: string } }> {
  readonly byName = new Map<string, T>();
  constructor(list: KubeList<T>) {
    for (const item of list.items) this.byName.set(item.metadata?.name ?? '', item);
  }
  apply(event: { type: string; object: T }): void {
    const name = event.object.metadata?.name ?? '';
    if (event.type === 'DELETED') this.byName.delete(name);
    else this.byName.set(name, event.object);
  }
  items(): T[] {
    return [...this.byName.values()];
  }
}

function initialState() {
  return {
    slices: new ObjectCache(readJson<KubeList<EndpointSliceLike>>('endpointslices.list.json')),
    pods: new ObjectCache(readJson<KubeList<PodLike>>('pods.list.json')),
  };
}

function mapState(state: ReturnType<typeof initialState>): SourceEndpoint[] {
  return mapCnpgEndpoints({ cluster: 'mycluster', slices: state.slices.items(), pods: state.pods.items() });
}

/** Replays both failover streams interleaved by resourceVersion, the order the API server produced them in. */
function replayFailover(
  state: ReturnType<typeof initialState>,
  untilResourceVersion = Number.POSITIVE_INFINITY,
) {
  const events = [
    ...readEvents<EndpointSliceLike>('endpointslices.failover.watch.jsonl').map((event) => ({
      kind: 'slice',
      event,
    })),
    ...readEvents<PodLike>('pods.failover.watch.jsonl').map((event) => ({ kind: 'pod', event })),
  ].sort(
    (a, b) =>
      Number(a.event.object.metadata?.resourceVersion) - Number(b.event.object.metadata?.resourceVersion),
  );
  for (const { kind, event } of events) {
    if (Number(event.object.metadata?.resourceVersion) > untilResourceVersion) break;
    if (kind === 'slice') state.slices.apply(event as { type: string; object: EndpointSliceLike });
    else state.pods.apply(event as { type: string; object: PodLike });
  }
}

const endpointAt = (endpoints: SourceEndpoint[], host: string) =>
  endpoints.find((endpoint) => endpoint.host === host);

describe('CloudNativePG mapping of the fixture cluster', () => {
  it('lists each of the three instances once', () => {
    expect(mapState(initialState()).map((endpoint) => endpoint.host)).toEqual([
      PRIMARY_1,
      REPLICA_3,
      REPLICA_2,
    ]);
  });

  it('takes the port from the slices', () => {
    expect(new Set(mapState(initialState()).map((endpoint) => endpoint.port))).toEqual(new Set([5432]));
  });

  it('hints the pod labelled primary as primary', () => {
    expect(endpointAt(mapState(initialState()), PRIMARY_1)?.roleHint).toBe('primary');
  });

  it('hints the replicas as standbys', () => {
    const endpoints = mapState(initialState());
    expect([REPLICA_2, REPLICA_3].map((host) => endpointAt(endpoints, host)?.roleHint)).toEqual([
      'standby',
      'standby',
    ]);
  });

  it('marks every ready endpoint serving', () => {
    expect(mapState(initialState()).every((endpoint) => endpoint.isServing)).toBe(true);
  });

  it('stops serving the primary as soon as its endpoint turns terminating', () => {
    const state = initialState();
    replayFailover(state, 4201);
    expect(endpointAt(mapState(state), PRIMARY_1)?.isServing).toBe(false);
  });

  it('keeps serving the replicas while the primary terminates', () => {
    const state = initialState();
    replayFailover(state, 4201);
    const endpoints = mapState(state);
    expect([REPLICA_2, REPLICA_3].map((host) => endpointAt(endpoints, host)?.isServing)).toEqual([
      true,
      true,
    ]);
  });

  it('moves the primary hint to the promoted pod after the failover', () => {
    const state = initialState();
    replayFailover(state);
    expect(endpointAt(mapState(state), REPLICA_2)?.roleHint).toBe('primary');
  });

  it('drops the deleted primary after the failover', () => {
    const state = initialState();
    replayFailover(state);
    expect(endpointAt(mapState(state), PRIMARY_1)).toBeUndefined();
  });

  it('lists the replacement replica before it is ready, not serving', () => {
    const state = initialState();
    replayFailover(state, 4213);
    expect(endpointAt(mapState(state), REPLACEMENT_4)).toMatchObject({
      roleHint: 'standby',
      isServing: false,
    });
  });

  it('serves the replacement replica once it is ready', () => {
    const state = initialState();
    replayFailover(state);
    expect(endpointAt(mapState(state), REPLACEMENT_4)).toMatchObject({
      roleHint: 'standby',
      isServing: true,
    });
  });

  it('falls back to -rw membership when the pod is not known', () => {
    const state = initialState();
    const endpoints = mapCnpgEndpoints({ cluster: 'mycluster', slices: state.slices.items(), pods: [] });
    expect(endpoints.map((endpoint) => endpoint.roleHint)).toEqual(['primary', 'standby', 'standby']);
  });

  it('reads the legacy role label of older clusters', () => {
    const pods = initialState()
      .pods.items()
      .map((pod) => {
        const labels = { ...pod.metadata?.labels };
        delete labels['cnpg.io/instanceRole'];
        return { ...pod, metadata: { ...pod.metadata, labels } };
      });
    const endpoints = mapCnpgEndpoints({ cluster: 'mycluster', slices: [], pods });
    expect(endpointAt(endpoints, PRIMARY_1)?.roleHint).toBe('primary');
  });

  it('ignores slices of services of another cluster', () => {
    const state = initialState();
    expect(mapCnpgEndpoints({ cluster: 'other', slices: state.slices.items(), pods: [] })).toEqual([]);
  });

  it('merges a service split over two slices', () => {
    const [rw] = initialState().slices.items();
    const second = JSON.parse(JSON.stringify(rw)) as EndpointSliceLike;
    second.metadata = { ...second.metadata, name: 'mycluster-rw-second' };
    if (second.endpoints?.[0]) second.endpoints[0].addresses = ['10.244.9.9'];
    const endpoints = mapCnpgEndpoints({
      cluster: 'mycluster',
      slices: [rw as EndpointSliceLike, second],
      pods: [],
    });
    expect(endpoints.map((endpoint) => endpoint.host)).toEqual([PRIMARY_1, '10.244.9.9']);
  });
});

describe('Endpoint conditions', () => {
  it('treats a terminating endpoint that still serves as not serving', () => {
    expect(isEndpointServing({ ready: false, serving: true, terminating: true })).toBe(false);
  });

  it('treats missing conditions as ready', () => {
    expect(isEndpointServing(undefined)).toBe(true);
  });

  it('falls back to ready when serving is absent', () => {
    expect(isEndpointServing({ ready: false })).toBe(false);
  });
});

describe('Generic mappings', () => {
  it('lists the endpoints of one service without role hints', () => {
    const endpoints = mapServiceEndpoints('mycluster-r', initialState().slices.items());
    expect(endpoints.map((endpoint) => [endpoint.host, endpoint.roleHint])).toEqual([
      [PRIMARY_1, null],
      [REPLICA_3, null],
      [REPLICA_2, null],
    ]);
  });

  it('lists selected pods on a named container port', () => {
    const endpoints = mapPodEndpoints(initialState().pods.items(), 'postgresql');
    expect(endpoints.map((endpoint) => `${endpoint.host}:${endpoint.port}`)).toEqual([
      `${PRIMARY_1}:5432`,
      `${REPLICA_3}:5432`,
      `${REPLICA_2}:5432`,
    ]);
  });

  it('marks a pod being deleted as not serving', () => {
    const state = initialState();
    replayFailover(state, 4210);
    const endpoints = mapPodEndpoints(state.pods.items(), 5432);
    expect(endpointAt(endpoints, PRIMARY_1)?.isServing).toBe(false);
  });
});
