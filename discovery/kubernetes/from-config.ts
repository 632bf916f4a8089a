// Builds the Kubernetes endpoint source from the `cluster.kubernetes` configuration section.

import { readFileSync } from 'node:fs';
import { buildKubeConfig } from './kube-config.js';
import {
  KubernetesSource,
  type KubernetesSourceOptions,
  type KubernetesTarget,
} from './kubernetes-source.js';

/** What discovery asks of the Kubernetes API: the Role in deploy/ grants exactly this. */
export const KUBERNETES_ACCESS = [
  { apiGroup: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
  { apiGroup: '', resource: 'pods', verbs: ['list', 'watch'] },
] as const;

export interface KubernetesSection {
  namespace?: string | undefined;
  cluster?: string | undefined;
  service?: string | undefined;
  labelSelector?: string | undefined;
  port: number;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** In a pod the namespace defaults to the pod's own, as kubectl does. */
export function resolveNamespace(section: KubernetesSection, readFile = readFileSync): string {
  if (section.namespace) return section.namespace;
  try {
    return readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    throw new Error('cluster.kubernetes.namespace is not set and no service-account namespace file exists');
  }
}

export function targetFromConfig(section: KubernetesSection, namespace: string): KubernetesTarget {
  if (section.cluster) return { mode: 'cnpg', namespace, cluster: section.cluster };
  if (section.service) return { mode: 'service', namespace, service: section.service };
  return { mode: 'pods', namespace, labelSelector: section.labelSelector!, port: section.port };
}

/** In-cluster credentials inside a pod, else KUBECONFIG / ~/.kube/config; API errors go to `onError`. */
export function kubernetesSourceFromConfig(
  section: KubernetesSection,
  env: NodeJS.ProcessEnv = process.env,
  onError?: KubernetesSourceOptions['onError'],
): KubernetesSource {
  const kubeConfig = buildKubeConfig(
    env.KUBERNETES_SERVICE_HOST ? { kind: 'in-cluster' } : { kind: 'default' },
  );
  return new KubernetesSource({
    target: targetFromConfig(section, resolveNamespace(section)),
    kubeConfig,
    onError,
  });
}
