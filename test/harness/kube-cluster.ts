// Models a CloudNativePG cluster's pods and EndpointSlices over real test instances and publishes its changes to a FakeKubeApi.
//
// Objects are shaped like the shared fixtures (test/component/kubernetes-fixtures.ts): the fixture pod and slices
// are the templates, names, labels, addresses, ports and conditions come from the model. The -rw / -ro / -r
// services select pods by cnpg.io/instanceRole (https://cloudnative-pg.io/documentation/current/service_management/);
// the EndpointSlice controller groups a service's endpoints into one slice per distinct port set
// (https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#distribution-of-endpointslices), and
// every test instance listens on its own port, so each slice here holds the endpoints of one port.

import type { FakeEvent, FakeKubeApi, FakeObject, FakeResource } from '../component/fake-kube-api.js';
import { loadCnpgFixtures } from '../component/kubernetes-fixtures.js';

export type CnpgRole = 'primary' | 'replica';

export interface KubeMember {
  /** Pod name, e.g. mycluster-1. */
  pod: string;
  host: string;
  port: number;
  role: CnpgRole;
  /** Readiness probe passing: pod condition Ready, endpoints ready. */
  isReady: boolean;
  /** Pod deletion has begun: deletionTimestamp set, endpoints terminating. */
  isTerminating: boolean;
}

type CnpgService = 'rw' | 'ro' | 'r';

const SERVICES: readonly CnpgService[] = ['rw', 'ro', 'r'];
const SERVICE_LABEL = 'kubernetes.io/service-name';
/** Fixed like the fixtures' timestamps: the value does not matter, its presence does. */
const DELETION_TIMESTAMP = '2024-05-01T10:00:00Z';

function isInService(service: CnpgService, member: KubeMember): boolean {
  if (service === 'rw') return member.role === 'primary';
  if (service === 'ro') return member.role === 'replica';
  return true;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A stable RFC 4122-looking uid per pod name (targetRef.uid must match the pod's). */
function uidOf(pod: string): string {
  const hex = Buffer.from(pod).toString('hex').padEnd(12, '0').slice(-12);
  return `7e57c0de-0000-4000-8000-${hex}`;
}

export class KubeCluster {
  private readonly members = new Map<string, KubeMember>();
  private readonly published: Record<FakeResource, Map<string, FakeObject>> = {
    endpointslices: new Map(),
    pods: new Map(),
  };
  private readonly podTemplate: FakeObject;
  private readonly sliceTemplates = new Map<CnpgService, FakeObject>();

  constructor(
    private readonly api: FakeKubeApi,
    readonly name = 'mycluster',
    readonly namespace = 'default',
  ) {
    const fixtures = loadCnpgFixtures();
    this.podTemplate = fixtures.pods.items[0]!;
    for (const service of SERVICES) {
      const slice = fixtures.slices.items.find(
        (item) => item.metadata?.labels?.[SERVICE_LABEL] === `mycluster-${service}`,
      );
      if (slice === undefined) throw new Error(`fixture slice for mycluster-${service} missing`);
      this.sliceTemplates.set(service, slice);
    }
  }

  member(pod: string): KubeMember {
    const found = this.members.get(pod);
    if (found === undefined) throw new Error(`no member ${pod}`);
    return found;
  }

  /** Adds or replaces a member of the model; nothing reaches the API until publish(). */
  set(member: KubeMember): this {
    this.members.set(member.pod, { ...member });
    return this;
  }

  update(pod: string, change: Partial<Omit<KubeMember, 'pod'>>): this {
    return this.set({ ...this.member(pod), ...change });
  }

  remove(pod: string): this {
    this.members.delete(pod);
    return this;
  }

  /** Serves the model as the answer to the first lists (no watch events). */
  loadInitial(): void {
    const pods = this.buildPods();
    const slices = this.buildSlices();
    this.api.load('pods', { metadata: { resourceVersion: '4110' }, items: [...pods.values()] });
    this.api.load('endpointslices', { metadata: { resourceVersion: '4110' }, items: [...slices.values()] });
    this.published.pods = pods;
    this.published.endpointslices = slices;
  }

  /**
   * Streams what changed since the last publish as watch events: pods first (the operator relabels them and
   * the kubelet reports readiness), then slices (the EndpointSlice controller follows the pods).
   */
  publish(): FakeEvent[] {
    return [
      ...this.publishResource('pods', this.buildPods()),
      ...this.publishResource('endpointslices', this.buildSlices()),
    ];
  }

  /** Makes the model the API's state without any watch event, as if the events had been compacted away. */
  publishSilently(): void {
    const pods = this.buildPods();
    const slices = this.buildSlices();
    this.api.replaceSilently('pods', [...pods.values()]);
    this.api.replaceSilently('endpointslices', [...slices.values()]);
    this.published.pods = pods;
    this.published.endpointslices = slices;
  }

  private publishResource(resource: FakeResource, next: Map<string, FakeObject>): FakeEvent[] {
    const previous = this.published[resource];
    const events: FakeEvent[] = [];
    for (const [name, object] of previous) if (!next.has(name)) events.push({ type: 'DELETED', object });
    for (const [name, object] of next) {
      const before = previous.get(name);
      if (before === undefined) events.push({ type: 'ADDED', object });
      else if (JSON.stringify(before) !== JSON.stringify(object)) events.push({ type: 'MODIFIED', object });
    }
    for (const event of events) this.api.applyEvent(resource, event);
    this.published[resource] = next;
    return events;
  }

  private buildPods(): Map<string, FakeObject> {
    const pods = new Map<string, FakeObject>();
    for (const member of this.members.values()) pods.set(member.pod, this.buildPod(member));
    return pods;
  }

  private buildPod(member: KubeMember): FakeObject {
    const pod = clone(this.podTemplate) as FakeObject & {
      metadata: Record<string, unknown> & { labels: Record<string, string> };
      spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> };
      status: Record<string, unknown>;
    };
    delete pod.metadata.resourceVersion;
    pod.metadata.name = member.pod;
    pod.metadata.namespace = this.namespace;
    pod.metadata.uid = uidOf(member.pod);
    pod.metadata.labels = {
      ...pod.metadata.labels,
      'cnpg.io/cluster': this.name,
      'cnpg.io/instanceName': member.pod,
      'cnpg.io/instanceRole': member.role,
      role: member.role,
    };
    if (member.isTerminating) pod.metadata.deletionTimestamp = DELETION_TIMESTAMP;
    for (const port of pod.spec.containers[0]?.ports ?? [])
      if (port.name === 'postgresql') port.containerPort = member.port;
    pod.status = {
      ...pod.status,
      phase: 'Running',
      podIP: member.host,
      podIPs: [{ ip: member.host }],
      conditions: [
        { type: 'Ready', status: member.isReady ? 'True' : 'False' },
        { type: 'ContainersReady', status: 'True' },
      ],
    };
    return pod;
  }

  private buildSlices(): Map<string, FakeObject> {
    const slices = new Map<string, FakeObject>();
    for (const service of SERVICES) {
      const byPort = new Map<number, KubeMember[]>();
      for (const member of this.members.values()) {
        if (!isInService(service, member)) continue;
        byPort.set(member.port, [...(byPort.get(member.port) ?? []), member]);
      }
      for (const [port, members] of byPort) {
        const slice = this.buildSlice(service, port, members);
        slices.set(slice.metadata?.name ?? '', slice);
      }
    }
    return slices;
  }

  private buildSlice(service: CnpgService, port: number, members: KubeMember[]): FakeObject {
    const serviceName = `${this.name}-${service}`;
    const slice = clone(this.sliceTemplates.get(service)!) as FakeObject & {
      metadata: Record<string, unknown> & { labels: Record<string, string> };
      endpoints: unknown[];
      ports: unknown[];
    };
    delete slice.metadata.resourceVersion;
    slice.metadata.name = `${serviceName}-p${port}`;
    slice.metadata.namespace = this.namespace;
    slice.metadata.generateName = `${serviceName}-`;
    slice.metadata.labels = {
      ...slice.metadata.labels,
      [SERVICE_LABEL]: serviceName,
      'cnpg.io/cluster': this.name,
    };
    slice.endpoints = members.map((member) => ({
      addresses: [member.host],
      // A terminating endpoint is never ready; `serving` keeps reporting readiness while it drains.
      conditions: {
        ready: member.isReady && !member.isTerminating,
        serving: member.isReady,
        terminating: member.isTerminating,
      },
      nodeName: 'rook-01',
      targetRef: { kind: 'Pod', name: member.pod, namespace: this.namespace, uid: uidOf(member.pod) },
    }));
    slice.ports = [{ name: 'postgres', port, protocol: 'TCP' }];
    return slice;
  }
}
