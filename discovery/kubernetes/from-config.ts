// Builds the Kubernetes endpoint source from `cluster.kubernetes`, and the watcher of the `users[].secret` Secrets.

import { readFileSync } from 'node:fs';
import { buildKubeConfig } from './kube-config.js';
import {
  KubernetesSource,
  type KubernetesSourceOptions,
  type KubernetesTarget,
} from './kubernetes-source.js';
import {
  type CredentialMap,
  SECRET_ACCESS,
  SecretCredentials,
  type SecretCredentialsOptions,
  type SecretRef,
} from './secret-credentials.js';

/**
 * What discovery and the credential watcher ask of the Kubernetes API: the Role in deploy/ grants exactly this
 * (Secrets only by name, with resourceNames).
 */
export const KUBERNETES_ACCESS = [
  { apiGroup: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
  { apiGroup: '', resource: 'pods', verbs: ['list', 'watch'] },
  SECRET_ACCESS,
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
  const own = readPodNamespace(readFile);
  if (own === null)
    throw new Error('cluster.kubernetes.namespace is not set and no service-account namespace file exists');
  return own;
}

/** The pod's own namespace from its service-account files; null outside a pod. */
export function readPodNamespace(readFile = readFileSync): string | null {
  try {
    return readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    return null;
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
  return new KubernetesSource({
    target: targetFromConfig(section, resolveNamespace(section)),
    kubeConfig: kubeConfigFromEnv(env),
    onError,
  });
}

/** The Secrets of `users[].secret`, watched with the same API credentials as discovery. */
export function secretCredentialsFromConfig(
  secrets: readonly SecretRef[],
  onChange: (credentials: CredentialMap) => void,
  onError?: SecretCredentialsOptions['onError'],
  env: NodeJS.ProcessEnv = process.env,
): SecretCredentials {
  return new SecretCredentials({ secrets, kubeConfig: kubeConfigFromEnv(env), onChange, onError });
}

function kubeConfigFromEnv(env: NodeJS.ProcessEnv) {
  return buildKubeConfig(env.KUBERNETES_SERVICE_HOST ? { kind: 'in-cluster' } : { kind: 'default' });
}
