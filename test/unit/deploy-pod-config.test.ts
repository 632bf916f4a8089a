// Unit: the pgroute pod of deploy/kubernetes: its config and environment pass pgroute's validator, and ports, probes, draining and security agree.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { applyEnv, type Config, configKeyPaths, parseDuration, validateConfig } from '../../config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = join(ROOT, 'deploy/kubernetes/base');
const OVERLAY = join(ROOT, 'deploy/kubernetes/overlays/cnpg-mycluster');
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Port {
  name?: string;
  containerPort?: number;
  port?: number;
  targetPort?: number | string;
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: Port[];
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  livenessProbe?: { httpGet?: { path: string; port: number | string } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  enableServiceLinks?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: {
    name: string;
    configMap?: { name: string };
    secret?: { secretName: string; items?: { key: string }[] };
  }[];
  affinity?: {
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: { podAffinityTerm: { topologyKey: string } }[];
    };
  };
}
interface Manifest {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  data?: Record<string, string>;
}

const readManifest = (path: string) => parseYaml(readFileSync(path, 'utf8')) as Manifest;
const baseDeployment = readManifest(join(BASE, 'deployment.yaml'));
const baseService = readManifest(join(BASE, 'service.yaml'));
const basePdb = readManifest(join(BASE, 'poddisruptionbudget.yaml'));
const podMonitor = readManifest(join(ROOT, 'deploy/kubernetes/components/monitoring/podmonitor.yaml'));
const podTemplate = (d: Manifest) =>
  d.spec.template as {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
    spec: PodSpec;
  };
const container = (d: Manifest) => podTemplate(d).spec.containers.find((c) => c.name === 'pgroute')!;
const readRawConfig = (dir: string) =>
  parseYaml(readFileSync(join(dir, 'pgroute.yaml'), 'utf8')) as Record<string, unknown>;

/** Stand-ins for what the kubelet would read: the Secret's keys and the pod's own fields. */
interface PodInputs {
  secrets: Record<string, Record<string, string>>;
  fields: Record<string, string>;
}
const inputs = (password: string, username = 'app'): PodInputs => ({
  secrets: {
    'pgroute-credentials': { username, password },
    'mycluster-app': { username, password },
  },
  fields: { 'metadata.namespace': 'shop' },
});

/**
 * The container environment as the kubelet builds it: values from the Secret and the downward API, then `$(NAME)`
 * replaced by an earlier variable and `$$` by `$` (https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/).
 */
function resolveEnv(env: readonly EnvVar[], pod: PodInputs): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of env) {
    const ref = v.valueFrom;
    if (ref?.secretKeyRef) {
      const value = pod.secrets[ref.secretKeyRef.name]?.[ref.secretKeyRef.key];
      if (value === undefined)
        throw new Error(`${v.name}: no Secret ${ref.secretKeyRef.name} key ${ref.secretKeyRef.key}`);
      out[v.name] = value;
    } else if (ref?.fieldRef) {
      out[v.name] = pod.fields[ref.fieldRef.fieldPath] ?? '';
    } else {
      out[v.name] = (v.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name?: string) =>
        name === undefined ? '$' : (out[name] ?? all),
      );
    }
  }
  return out;
}

const configFor = (dir: string, deployment: Manifest, pod: PodInputs): Readonly<Config> =>
  validateConfig(applyEnv(readRawConfig(dir), resolveEnv(container(deployment).env ?? [], pod)));

/** The overlay as kustomize renders it (the env patch merged into the base Deployment). */
function buildOverlay(): { deployment: Manifest; configYaml: string } {
  const r = spawnSync('kubectl', ['kustomize', OVERLAY], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const configMapName = podTemplate(deployment).spec.volumes!.find((v) => v.name === 'config')!.configMap!
    .name;
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMapName)!;
  return { deployment, configYaml: configMap.data!['pgroute.yaml']! };
}

describe('pgroute.yaml with the Deployment environment', () => {
  it('the base configuration passes pgroute validation and reads its user from the Secret pgroute-credentials', () => {
    const config = configFor(BASE, baseDeployment, inputs('s3cret'));
    expect(config.users[0]?.secret).toEqual({
      name: 'pgroute-credentials',
      usernameKey: 'username',
      passwordKey: 'password',
    });
  });

  it("the pod's namespace becomes cluster.kubernetes.namespace", () => {
    expect(configFor(BASE, baseDeployment, inputs('x')).cluster.kubernetes?.namespace).toBe('shop');
  });

  it.each(['shop', '12345', 'true', 'null', 'a-b'])(
    'a pod namespace %j reaches pgroute as that exact string',
    (namespace) => {
      const pod = { ...inputs('x'), fields: { 'metadata.namespace': namespace } };
      expect(configFor(BASE, baseDeployment, pod).cluster.kubernetes?.namespace).toBe(namespace);
    },
  );

  it('passes no Secret value through the environment (pgroute watches its Secret itself)', () => {
    const fromSecrets = (container(baseDeployment).env ?? []).filter((v) => v.valueFrom?.secretKeyRef);
    expect(fromSecrets.map((v) => v.name)).toEqual([]);
  });

  it('every PGROUTE_ variable the Deployment sets names a configuration key', () => {
    const keys = new Set(configKeyPaths());
    const paths = (container(baseDeployment).env ?? [])
      .filter((v) => v.name.startsWith('PGROUTE_'))
      .map((v) =>
        v.name
          .slice('PGROUTE_'.length)
          .split('__')
          .filter((p) => !/^\d+$/.test(p))
          .map((p) => p.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()))
          .join('.'),
      );
    expect(paths.filter((p) => !keys.has(p))).toEqual([]);
  });

  it('service links cannot add PGROUTE_ variables that break the configuration', () => {
    // Kubernetes sets <SERVICE>_SERVICE_HOST, <SERVICE>_PORT, ... for every Service; ours is named pgroute.
    const name = baseService.metadata.name.toUpperCase().replace(/-/g, '_');
    const links = { [`${name}_SERVICE_HOST`]: '10.96.0.10', [`${name}_PORT`]: 'tcp://10.96.0.10:6432' };
    if (podTemplate(baseDeployment).spec.enableServiceLinks === false) return;
    expect(() => validateConfig(applyEnv(readRawConfig(BASE), links))).not.toThrow();
  });

  it('the cnpg-mycluster configuration passes pgroute validation', () => {
    const config = configFor(OVERLAY, baseDeployment, inputs('s3cret'));
    expect(config.cluster.kubernetes).toMatchObject({ namespace: 'shop', cluster: 'mycluster' });
  });

  it.skipIf(!hasKubectl)(
    'the rendered cnpg-mycluster overlay reads user and password from mycluster-app',
    () => {
      const { deployment, configYaml } = buildOverlay();
      const env = container(deployment).env ?? [];
      const raw = parseYaml(configYaml) as Record<string, unknown>;
      // No Secret exists for the kubelet: a secretKeyRef left in the pod would fail to resolve.
      const pod: PodInputs = { ...inputs('pw'), secrets: {} };
      const config = validateConfig(applyEnv(raw, resolveEnv(env, pod)));
      expect(config.users.map((u) => u.secret?.name)).toEqual(['mycluster-app']);
    },
  );

  it.skipIf(!hasKubectl)(
    "the rendered cnpg-mycluster overlay mounts only the CA's certificate where sslrootcert points",
    () => {
      const { deployment, configYaml } = buildOverlay();
      const config = validateConfig(parseYaml(configYaml));
      const spec = podTemplate(deployment).spec;
      const mount = container(deployment).volumeMounts!.find((m) =>
        config.server.sslrootcert!.startsWith(`${m.mountPath}/`),
      )!;
      const volume = spec.volumes!.find((v) => v.name === mount.name)!;
      expect(volume.secret).toEqual({
        secretName: 'mycluster-ca',
        items: [{ key: 'ca.crt', path: 'ca.crt' }],
      });
    },
  );
});

describe('the pgroute pod', () => {
  const config = configFor(BASE, baseDeployment, inputs('x'));
  const ports = new Map((container(baseDeployment).ports ?? []).map((p) => [p.name, p.containerPort]));

  it('opens a container port for each listener and the HTTP server of pgroute.yaml', () => {
    const wanted = [...config.listen.map((l) => l.port), config.http!.port].sort();
    expect([...ports.values()].sort()).toEqual(wanted);
  });

  it('publishes every listener through the Service', () => {
    const servicePorts = (baseService.spec.ports as Port[]).map((p) => ({
      port: p.port,
      target: ports.get(p.targetPort as string),
    }));
    expect(servicePorts).toEqual(config.listen.map((l) => ({ port: l.port, target: l.port })));
  });

  it('probes /readyz and /healthz on the HTTP port', () => {
    const c = container(baseDeployment);
    expect(ports.get(c.readinessProbe!.httpGet!.port as string)).toBe(config.http!.port);
    expect(ports.get(c.livenessProbe!.httpGet!.port as string)).toBe(config.http!.port);
    expect([c.readinessProbe!.httpGet!.path, c.livenessProbe!.httpGet!.path]).toEqual([
      '/readyz',
      '/healthz',
    ]);
  });

  it('is scraped on the HTTP port by annotation and by the PodMonitor', () => {
    const annotations = podTemplate(baseDeployment).metadata.annotations!;
    expect(Number(annotations['prometheus.io/port'])).toBe(config.http!.port);
    const endpoints = podMonitor.spec.podMetricsEndpoints as { port: string; path: string }[];
    expect(endpoints.map((e) => [ports.get(e.port), e.path])).toEqual([[config.http!.port, '/metrics']]);
  });

  it('gets longer to terminate than the preStop sleep plus shutdown.timeout', () => {
    const spec = podTemplate(baseDeployment).spec;
    const [cmd, seconds] = container(baseDeployment).lifecycle!.preStop!.exec!.command;
    expect(cmd).toBe('sleep');
    const drainMs = parseDuration(`${seconds}s`) + config.shutdown.timeout;
    expect(spec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(drainMs);
  });

  it('runs the configuration file it mounts from the generated ConfigMap', () => {
    const c = container(baseDeployment);
    const file = c.args![c.args!.indexOf('--config') + 1]!;
    const mount = c.volumeMounts!.find((m) => file === `${m.mountPath}/pgroute.yaml`)!;
    const volume = podTemplate(baseDeployment).spec.volumes!.find((v) => v.name === mount.name)!;
    const kustomization = parseYaml(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8')) as {
      configMapGenerator: { name: string; files: string[] }[];
    };
    expect(kustomization.configMapGenerator).toContainEqual({
      name: volume.configMap!.name,
      files: ['pgroute.yaml'],
    });
  });

  it('meets the restricted Pod Security Standard', () => {
    const pod = podTemplate(baseDeployment).spec.securityContext!;
    const c = container(baseDeployment).securityContext!;
    expect(pod.runAsNonRoot ?? c.runAsNonRoot).toBe(true);
    expect(c).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(c.capabilities?.drop).toEqual(['ALL']);
    expect([pod.seccompProfile, c.seccompProfile]).toContainEqual({ type: 'RuntimeDefault' });
  });

  it("runs as the Dockerfile's numeric USER", () => {
    const user = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    expect(user).not.toBeNull();
    const c = container(baseDeployment).securityContext!;
    expect([c.runAsUser, c.runAsGroup]).toEqual([Number(user![1]), Number(user![2] ?? user![1])]);
  });

  it('spreads two or more replicas over nodes and keeps one through voluntary disruptions', () => {
    expect(baseDeployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const terms =
      podTemplate(baseDeployment).spec.affinity!.podAntiAffinity!
        .preferredDuringSchedulingIgnoredDuringExecution!;
    expect(terms.map((t) => t.podAffinityTerm.topologyKey)).toContain('kubernetes.io/hostname');
    expect(basePdb.spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: (baseDeployment.spec.selector as { matchLabels: object }).matchLabels },
    });
  });
});
