// The few fields of Kubernetes EndpointSlices and Pods that discovery reads, typed structurally so that both raw
// watch JSON and @kubernetes/client-node's deserialized models fit.

export interface KubeObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  /** Set once deletion has begun (Date in client-node models, RFC 3339 text in raw JSON). */
  deletionTimestamp?: unknown;
}

export interface KubeObject {
  metadata?: KubeObjectMeta;
}

export interface EndpointConditionsLike {
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
}

export interface EndpointSliceLike extends KubeObject {
  addressType?: string;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: EndpointConditionsLike;
    targetRef?: { kind?: string; name?: string };
  }> | null;
  ports?: Array<{ name?: string; port?: number; protocol?: string }> | null;
}

export interface PodLike extends KubeObject {
  spec?: {
    containers?: Array<{
      name?: string;
      ports?: Array<{ name?: string; containerPort?: number; protocol?: string }>;
    }>;
  };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type?: string; status?: string }>;
  };
}

export interface KubeList<T> {
  metadata?: { resourceVersion?: string };
  items: T[];
}

/** One line of a watch stream (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes). */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
