// Pure mapping of Kubernetes objects (CloudNativePG services and pods, a plain Service, a pod selector) to endpoints.

import type { SourceEndpoint } from '../endpoint-source.js';
import { DEFAULT_POSTGRES_PORT } from '../instance-address.js';
import type { InstanceRole } from '../topology-view.js';
import type { EndpointConditionsLike, EndpointSliceLike, PodLike } from './kube-objects.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const CNPG_CLUSTER_LABEL = 'cnpg.io/cluster';
/** CloudNativePG >= 1.18 labels the instance role here; older clusters only use `role`. */
export const CNPG_ROLE_LABEL = 'cnpg.io/instanceRole';
export const LEGACY_ROLE_LABEL = 'role';
/** The CloudNativePG postgres container exposes its server port under this name. */
const CNPG_PORT_NAME = 'postgresql';

export type CnpgService = 'rw' | 'ro' | 'r';

export function cnpgServiceNames(cluster: string): Record<CnpgService, string> {
  return { rw: `${cluster}-rw`, ro: `${cluster}-ro`, r: `${cluster}-r` };
}

/** An address seen in endpoint slices, with what each slice said about it. */
interface SliceView {
  ip: string;
  port: number;
  podName: string | null;
  isServing: boolean;
  services: Set<string>;
}

/**
 * Endpoint conditions (https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#conditions):
 * `serving` nil means "same as ready", `ready` nil means ready, `terminating` nil means not terminating. A
 * terminating endpoint takes no new work, even while it still serves: that is how a planned switchover drains.
 */
export function isEndpointServing(conditions: EndpointConditionsLike | undefined): boolean {
  if (conditions?.terminating === true) return false;
  return conditions?.serving ?? conditions?.ready ?? true;
}

function slicePort(slice: EndpointSliceLike, fallback: number): number {
  const ports = slice.ports ?? [];
  const named = ports.find((port) => port.name === 'postgres' || port.name === CNPG_PORT_NAME);
  return named?.port ?? ports[0]?.port ?? fallback;
}

/** Merges slices per address; one service may be split over several slices and one pod is in several services. */
function collectSliceViews(
  slices: readonly EndpointSliceLike[],
  defaultPort: number,
): Map<string, SliceView> {
  const views = new Map<string, SliceView>();
  for (const slice of slices) {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL] ?? '';
    const port = slicePort(slice, defaultPort);
    for (const endpoint of slice.endpoints ?? []) {
      const isServing = isEndpointServing(endpoint.conditions);
      const podName = endpoint.targetRef?.kind === 'Pod' ? (endpoint.targetRef.name ?? null) : null;
      for (const ip of endpoint.addresses ?? []) {
        const view = views.get(ip);
        if (view === undefined) {
          views.set(ip, { ip, port, podName, isServing, services: new Set([service]) });
        } else {
          view.isServing = view.isServing && isServing;
          view.services.add(service);
          view.podName ??= podName;
        }
      }
    }
  }
  return views;
}

export function isPodServing(pod: PodLike): boolean {
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return false;
  if (pod.status?.phase !== undefined && pod.status.phase !== 'Running') return false;
  return (
    pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ??
    false
  );
}

export function readCnpgPodRole(pod: PodLike): InstanceRole | null {
  const labels = pod.metadata?.labels ?? {};
  const label = labels[CNPG_ROLE_LABEL] ?? labels[LEGACY_ROLE_LABEL];
  if (label === 'primary') return 'primary';
  if (label === 'replica') return 'standby';
  return null;
}

function podPort(pod: PodLike, portName: string | null, fallback: number): number {
  if (portName === null) return fallback;
  for (const container of pod.spec?.containers ?? []) {
    const port = container.ports?.find((candidate) => candidate.name === portName);
    if (port?.containerPort !== undefined) return port.containerPort;
  }
  return fallback;
}

function sortEndpoints(endpoints: SourceEndpoint[]): SourceEndpoint[] {
  return endpoints.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
}

export interface CnpgMappingInput {
  cluster: string;
  slices: readonly EndpointSliceLike[];
  pods: readonly PodLike[];
  defaultPort?: number;
}

/**
 * CloudNativePG: the operator labels each pod with its role and the -rw / -ro / -r services select pods by those
 * labels, so the pod label is the operator's newest word and the slices follow it. Role hint: the pod's label
 * when the pod is known, else membership of -rw (primary) or -ro (standby). Serving: every source that knows
 * the address must agree (slice conditions and pod readiness), so whichever notices a terminating pod first wins.
 */
export function mapCnpgEndpoints(input: CnpgMappingInput): SourceEndpoint[] {
  const defaultPort = input.defaultPort ?? DEFAULT_POSTGRES_PORT;
  const services = cnpgServiceNames(input.cluster);
  const wanted = new Set(Object.values(services));
  const views = collectSliceViews(
    input.slices.filter((slice) => wanted.has(slice.metadata?.labels?.[SERVICE_NAME_LABEL] ?? '')),
    defaultPort,
  );
  const clusterPods = input.pods.filter(
    (pod) => pod.metadata?.labels?.[CNPG_CLUSTER_LABEL] === input.cluster,
  );
  const podsByName = new Map(clusterPods.map((pod) => [pod.metadata?.name ?? '', pod]));
  const podsByIp = new Map(
    clusterPods.filter((pod) => pod.status?.podIP).map((pod) => [pod.status?.podIP ?? '', pod]),
  );

  const endpoints: SourceEndpoint[] = [];
  const seenIps = new Set<string>();
  for (const view of views.values()) {
    seenIps.add(view.ip);
    const pod = (view.podName === null ? undefined : podsByName.get(view.podName)) ?? podsByIp.get(view.ip);
    const sliceRole: InstanceRole | null = view.services.has(services.rw)
      ? 'primary'
      : view.services.has(services.ro)
        ? 'standby'
        : null;
    endpoints.push({
      host: view.ip,
      port: view.port,
      roleHint: (pod === undefined ? null : readCnpgPodRole(pod)) ?? sliceRole,
      isServing: view.isServing && (pod === undefined || isPodServing(pod)),
    });
  }
  for (const pod of clusterPods) {
    const ip = pod.status?.podIP;
    if (ip === undefined || ip === '' || seenIps.has(ip)) continue;
    // In no slice yet (just created) or any more: probe it, but it takes no new work.
    endpoints.push({
      host: ip,
      port: podPort(pod, CNPG_PORT_NAME, defaultPort),
      roleHint: readCnpgPodRole(pod),
      isServing: false,
    });
  }
  return sortEndpoints(endpoints);
}

/** Generic: the endpoints of one Service; roles come from probes alone. */
export function mapServiceEndpoints(
  service: string,
  slices: readonly EndpointSliceLike[],
  defaultPort = DEFAULT_POSTGRES_PORT,
): SourceEndpoint[] {
  const views = collectSliceViews(
    slices.filter((slice) => slice.metadata?.labels?.[SERVICE_NAME_LABEL] === service),
    defaultPort,
  );
  return sortEndpoints(
    [...views.values()].map((view) => ({
      host: view.ip,
      port: view.port,
      roleHint: null,
      isServing: view.isServing,
    })),
  );
}

/** Generic: pods matched by a label selector, each on `port` (a number, or a container port name). */
export function mapPodEndpoints(pods: readonly PodLike[], port: number | string): SourceEndpoint[] {
  const endpoints: SourceEndpoint[] = [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    if (ip === undefined || ip === '') continue;
    endpoints.push({
      host: ip,
      port: typeof port === 'number' ? port : podPort(pod, port, DEFAULT_POSTGRES_PORT),
      roleHint: null,
      isServing: isPodServing(pod),
    });
  }
  return sortEndpoints(endpoints);
}
