// Endpoint source backed by the Kubernetes API: CloudNativePG cluster, a Service's EndpointSlices, or a pod selector.

import { CoreV1Api, DiscoveryV1Api, type KubeConfig, Watch } from '@kubernetes/client-node';
import type { EndpointSink, EndpointSource, SourceEndpoint } from '../endpoint-source.js';
import type { BackoffOptions } from './backoff.js';
import type { EndpointSliceLike, KubeList, KubeObject, PodLike } from './kube-objects.js';
import {
  CNPG_CLUSTER_LABEL,
  cnpgServiceNames,
  mapCnpgEndpoints,
  mapPodEndpoints,
  mapServiceEndpoints,
  SERVICE_NAME_LABEL,
} from './map-endpoints.js';
import { ResourceWatcher } from './resource-watcher.js';

export type KubernetesTarget =
  /** CloudNativePG: EndpointSlices of <cluster>-rw/-ro/-r and pods labelled cnpg.io/cluster=<cluster>. */
  | { mode: 'cnpg'; namespace: string; cluster: string }
  /** Any Service: its EndpointSlices; roles come from probes alone. */
  | { mode: 'service'; namespace: string; service: string }
  /** Pods matching a label selector, on a port number or a named container port. */
  | { mode: 'pods'; namespace: string; labelSelector: string; port: number | string };

export interface KubernetesSourceOptions {
  target: KubernetesTarget;
  kubeConfig: KubeConfig;
  /** Default "kubernetes". */
  name?: string;
  backoff?: BackoffOptions;
  /** Port when a slice or pod names none; default 5432. */
  defaultPort?: number;
  /** Rewrites each endpoint (e.g. pod IPs to port-forwarded loopback addresses). */
  mapAddress?: (endpoint: SourceEndpoint) => SourceEndpoint;
  onError?: (error: Error, retryInMs: number, resource: string) => void;
  /** Server-side ?timeoutSeconds= of each watch; default 300. */
  watchTimeoutSeconds?: number;
}

export class KubernetesSource implements EndpointSource {
  readonly name: string;
  private readonly slices: ResourceWatcher<EndpointSliceLike> | null;
  private readonly pods: ResourceWatcher<PodLike> | null;
  private sink: EndpointSink | null = null;
  private lastEmitted: string | null = null;
  private isInitialSettled = false;

  constructor(private readonly options: KubernetesSourceOptions) {
    this.name = options.name ?? 'kubernetes';
    const { target, kubeConfig } = options;
    const watch = new Watch(kubeConfig);
    const discoveryApi = kubeConfig.makeApiClient(DiscoveryV1Api);
    const coreApi = kubeConfig.makeApiClient(CoreV1Api);
    const namespace = target.namespace;
    const common = {
      watch,
      backoff: options.backoff,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      onChange: () => this.emit(),
    };

    const sliceSelector =
      target.mode === 'cnpg'
        ? `${SERVICE_NAME_LABEL} in (${Object.values(cnpgServiceNames(target.cluster)).join(',')})`
        : target.mode === 'service'
          ? `${SERVICE_NAME_LABEL}=${target.service}`
          : null;
    this.slices =
      sliceSelector === null
        ? null
        : new ResourceWatcher<EndpointSliceLike>({
            ...common,
            resource: 'endpointslices',
            watchPath: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
            labelSelector: sliceSelector,
            list: () =>
              discoveryApi.listNamespacedEndpointSlice({
                namespace,
                labelSelector: sliceSelector,
              }) as Promise<KubeList<EndpointSliceLike>>,
            onError: (error, retryInMs) => options.onError?.(error, retryInMs, 'endpointslices'),
          });

    const podSelector =
      target.mode === 'cnpg'
        ? `${CNPG_CLUSTER_LABEL}=${target.cluster}`
        : target.mode === 'pods'
          ? target.labelSelector
          : null;
    this.pods =
      podSelector === null
        ? null
        : new ResourceWatcher<PodLike>({
            ...common,
            resource: 'pods',
            watchPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
            labelSelector: podSelector,
            list: () =>
              coreApi.listNamespacedPod({ namespace, labelSelector: podSelector }) as Promise<
                KubeList<PodLike>
              >,
            onError: (error, retryInMs) => options.onError?.(error, retryInMs, 'pods'),
          });
  }

  /** Resolves once every watcher's first list has succeeded or failed (then it keeps retrying in the background). */
  async start(sink: EndpointSink): Promise<void> {
    this.sink = sink;
    const watchers = this.watchers();
    for (const watcher of watchers) watcher.start();
    await Promise.all(watchers.map((watcher) => watcher.firstAttempt()));
    this.isInitialSettled = true;
    this.emit();
  }

  async stop(): Promise<void> {
    this.sink = null;
    await Promise.all(this.watchers().map((watcher) => watcher.stop()));
  }

  /** Where each watcher would resume (for status pages and tests). */
  resourceVersions(): { endpointslices: string | null; pods: string | null } {
    return { endpointslices: this.slices?.resourceVersion ?? null, pods: this.pods?.resourceVersion ?? null };
  }

  /** The endpoints as the last known objects say, whether or not the API is reachable now. */
  currentEndpoints(): SourceEndpoint[] {
    const { target } = this.options;
    const slices = this.slices?.list() ?? [];
    const pods = this.pods?.list() ?? [];
    const endpoints =
      target.mode === 'cnpg'
        ? mapCnpgEndpoints({ cluster: target.cluster, slices, pods, defaultPort: this.options.defaultPort })
        : target.mode === 'service'
          ? mapServiceEndpoints(target.service, slices, this.options.defaultPort)
          : mapPodEndpoints(pods, target.port);
    const mapAddress = this.options.mapAddress;
    return mapAddress === undefined ? endpoints : endpoints.map((endpoint) => mapAddress(endpoint));
  }

  private emit(): void {
    // Until every first list has answered, a partial picture (slices without pods) would flap roles.
    if (!this.isInitialSettled || this.sink === null) return;
    if (!this.watchers().some((watcher) => watcher.hasSynced)) return;
    const endpoints = this.currentEndpoints();
    const serialized = JSON.stringify(endpoints);
    if (serialized === this.lastEmitted) return;
    this.lastEmitted = serialized;
    this.sink(endpoints);
  }

  private watchers(): ResourceWatcher<KubeObject>[] {
    return [this.slices, this.pods].filter((watcher) => watcher !== null) as ResourceWatcher<KubeObject>[];
  }
}
