// Builds a @kubernetes/client-node KubeConfig: in-cluster service account, KUBECONFIG/default file, or explicit.

import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesConfigError } from '../errors.js';

export type KubeConfigOptions =
  /** The pod's service account (KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount). */
  | { kind: 'in-cluster' }
  /** $KUBECONFIG, else ~/.kube/config, else in-cluster: what kubectl would use. */
  | { kind: 'default'; context?: string }
  /** A server URL (http:// works, for tests), optionally a bearer token. */
  | { kind: 'explicit'; server: string; token?: string; skipTLSVerify?: boolean; caData?: string };

export function buildKubeConfig(options: KubeConfigOptions): KubeConfig {
  const config = new KubeConfig();
  switch (options.kind) {
    case 'in-cluster':
      config.loadFromCluster();
      break;
    case 'default':
      config.loadFromDefault();
      if (options.context !== undefined) config.setCurrentContext(options.context);
      break;
    case 'explicit':
      config.loadFromOptions({
        clusters: [
          {
            name: 'pgroute',
            server: options.server,
            skipTLSVerify: options.skipTLSVerify ?? false,
            caData: options.caData,
          },
        ],
        users: [{ name: 'pgroute', token: options.token }],
        contexts: [{ name: 'pgroute', cluster: 'pgroute', user: 'pgroute' }],
        currentContext: 'pgroute',
      });
      break;
  }
  if (config.getCurrentCluster() === null)
    throw new KubernetesConfigError(`no current cluster (${options.kind})`);
  return config;
}
