// Integration: Discovery over a KubernetesSource (fake API, CloudNativePG fixtures) probing the real shared cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Discovery } from '../../discovery/discovery.js';
import { buildKubeConfig } from '../../discovery/kubernetes/kube-config.js';
import { KubernetesSource } from '../../discovery/kubernetes/kubernetes-source.js';
import type { TopologySnapshot } from '../../discovery/topology-view.js';
import { FakeKubeApi } from '../component/fake-kube-api.js';
import { FIXTURE_ADDRESSES, loadCnpgFixtures } from '../component/kubernetes-fixtures.js';
import { sharedCluster } from '../harness/cluster.js';

const cluster = sharedCluster();
const fixtures = loadCnpgFixtures();
/** mycluster-1 (labelled primary) is pg0, mycluster-2 is pg1, mycluster-3 is pg2; mycluster-4 stays unmapped. */
const POD_TO_INSTANCE: Record<string, string> = {
  [FIXTURE_ADDRESSES['10.244.125.198'] ?? '']: 'pg0',
  [FIXTURE_ADDRESSES['10.244.155.112'] ?? '']: 'pg1',
  [FIXTURE_ADDRESSES['10.244.125.219'] ?? '']: 'pg2',
};
const idOf = (name: string) => `${cluster.instance(name).host}:${cluster.instance(name).port}`;

let api: FakeKubeApi;
let discovery: Discovery;

beforeAll(async () => {
  api = await FakeKubeApi.start();
  api.load('endpointslices', fixtures.slices);
  api.load('pods', fixtures.pods);
  discovery = new Discovery({
    sources: [
      new KubernetesSource({
        target: { mode: 'cnpg', namespace: 'default', cluster: 'mycluster' },
        kubeConfig: buildKubeConfig({ kind: 'explicit', server: api.url, skipTLSVerify: true }),
        backoff: { initialMs: 50, maxMs: 500 },
        mapAddress: (endpoint) => {
          const name = POD_TO_INSTANCE[endpoint.host];
          if (name === undefined) return endpoint;
          const instance = cluster.instance(name);
          return { ...endpoint, host: instance.host, port: instance.port };
        },
      }),
    ],
    probe: { user: cluster.descriptor.superuser, database: 'postgres', intervalMs: 100 },
  });
  await discovery.start();
  await discovery.waitFor((snapshot) => snapshot.primaryId !== null, 20_000);
});

afterAll(async () => {
  await discovery?.stop();
  await api?.close();
});

const stateIn = (snapshot: TopologySnapshot, name: string) =>
  snapshot.instances.find((state) => state.id === idOf(name));

describe('Discovery from Kubernetes endpoints', () => {
  it('elects the instance behind the pod labelled primary', () => {
    expect(discovery.current().primaryId).toBe(idOf('pg0'));
  });

  it('carries the Kubernetes role next to the probed role', () => {
    const state = stateIn(discovery.current(), 'pg0');
    expect([state?.role, state?.sourceRole]).toEqual(['primary', 'primary']);
  });

  it('keeps a terminating primary writable but takes it out of service', async () => {
    api.applyEvent('endpointslices', fixtures.sliceEvents[0]!);
    const snapshot = await discovery.waitFor((next) => stateIn(next, 'pg0')?.isServing === false, 10_000);
    expect(stateIn(snapshot, 'pg0')?.isWritable).toBe(true);
  });

  it('drops the instance once Kubernetes no longer lists it', async () => {
    for (const event of fixtures.sliceEvents.slice(1)) api.applyEvent('endpointslices', event);
    for (const event of fixtures.podEvents) api.applyEvent('pods', event);
    const snapshot = await discovery.waitFor((next) => stateIn(next, 'pg0') === undefined, 10_000);
    expect(snapshot.primaryId).toBeNull();
  });
});
