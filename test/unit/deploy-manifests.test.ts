// Unit: every manifest under deploy/ is valid Kubernetes (official schemas, offline), listed by a kustomization, and the Role grants what discovery calls.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { type Config, validateConfig } from '../../config.js';
import { KUBERNETES_ACCESS } from '../../discovery/kubernetes/from-config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const KUSTOMIZE_ROOTS = ['deploy/kubernetes/base', 'deploy/kubernetes/overlays/cnpg-mycluster'];
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

type KubeManifest = { apiVersion?: string; kind?: string; metadata?: { name?: string } } & Record<
  string,
  unknown
>;
interface Kustomization {
  kind?: string;
  resources?: string[];
  components?: string[];
  patches?: { path?: string }[];
  configMapGenerator?: { name: string; files?: string[] }[];
}

/**
 * The Kubernetes API each file of discovery/kubernetes calls, as RBAC sees it (discovery's KUBERNETES_ACCESS);
 * 'the access table is what discovery/kubernetes calls' checks it against the source.
 */
const DISCOVERY_ACCESS = KUBERNETES_ACCESS.map((a) => ({ ...a, verbs: [...a.verbs].sort() }));

/** kubernetes-models classes: the official OpenAPI schemas (and the CRD's) compiled to validators. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
};
/** Custom resources: @kubernetes/client-node has no model to find unknown fields with. */
const CRD_GROUPS = new Set(['monitoring.coreos.com']);

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

function parseYamlDocuments(text: string, source: string): KubeManifest[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as KubeManifest | null;
    return value === null ? [] : [value];
  });
}

const readDocuments = (file: string) => parseYamlDocuments(readFileSync(file, 'utf8'), relative(ROOT, file));

function schemaErrors(object: KubeManifest): string[] {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) return [`no schema for ${object.apiVersion} ${object.kind}: add it to MODELS`];
  try {
    new Model(object as never).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

type AttributeTypeMap = { baseName: string; type: string }[];

function attributesOf(type: string): AttributeTypeMap | null {
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeTypeMap }>)[type];
  return model?.getAttributeTypeMap?.() ?? null;
}

/**
 * The JSON schemas accept unknown fields (so does the API server, silently, without --validate=strict): every
 * field must instead be one @kubernetes/client-node's model of the kind (generated from the same OpenAPI) knows.
 */
function unknownFields(value: unknown, type: string, path: string): string[] {
  const element = /^Array<(.+)>$/.exec(type)?.[1];
  if (element !== undefined)
    return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, element, `${path}[${i}]`)) : [];
  const mapped = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (mapped !== undefined)
    return isObject
      ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, mapped, `${path}.${k}`))
      : [];
  const attributes = attributesOf(type);
  if (attributes === null || !isObject) return [];
  const known = new Map(attributes.map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const fieldType = known.get(key);
    return fieldType === undefined
      ? [`${path}.${key}: unknown field`]
      : unknownFields(v, fieldType, `${path}.${key}`);
  });
}

function unknownFieldErrors(object: KubeManifest): string[] {
  const [group, version] = object.apiVersion?.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion ?? ''];
  if (CRD_GROUPS.has(group!)) return [];
  const type = `${version!.charAt(0).toUpperCase()}${version!.slice(1)}${object.kind}`;
  if (attributesOf(type) === null) return [`no @kubernetes/client-node model ${type}`];
  return unknownFields(object, type, object.kind ?? '');
}

const validateManifest = (object: KubeManifest) => [...schemaErrors(object), ...unknownFieldErrors(object)];

function loadKustomizations(): Map<string, Kustomization> {
  const found = listFiles(DEPLOY).filter((f) => f.endsWith('/kustomization.yaml'));
  return new Map(found.map((f) => [dirname(f), readDocuments(f)[0] as Kustomization]));
}

type FileUse = 'resource' | 'patch' | 'generator' | 'kustomization' | 'directory';

/** Each path a kustomization names, with how kustomize uses it ('directory': another kustomization). */
function listedFiles(): { file: string; use: FileUse }[] {
  const out: { file: string; use: FileUse }[] = [];
  const isDirectory = (path: string) => existsSync(path) && statSync(path).isDirectory();
  for (const [dir, k] of loadKustomizations()) {
    out.push({ file: join(dir, 'kustomization.yaml'), use: 'kustomization' });
    for (const r of [...(k.resources ?? []), ...(k.components ?? [])]) {
      const path = resolve(dir, r);
      out.push({ file: path, use: isDirectory(path) ? 'directory' : 'resource' });
    }
    for (const p of k.patches ?? []) if (p.path) out.push({ file: resolve(dir, p.path), use: 'patch' });
    for (const g of k.configMapGenerator ?? [])
      for (const f of g.files ?? []) out.push({ file: resolve(dir, f.split('=').pop()!), use: 'generator' });
  }
  return out;
}

const manifestDocs = listedFiles()
  .filter((l) => l.use === 'resource' && existsSync(l.file))
  .flatMap(({ file }) => readDocuments(file).map((object) => ({ file: relative(ROOT, file), object })));
const patchDocs = listedFiles()
  .filter((l) => l.use === 'patch')
  .flatMap(({ file }) => readDocuments(file).map((object) => ({ file: relative(ROOT, file), object })));
const deployment = manifestDocs.find((d) => d.object.kind === 'Deployment')!.object;
const podMonitor = manifestDocs.find((d) => d.object.kind === 'PodMonitor')!.object;

function kustomizeBuild(dir: string): KubeManifest[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parseYamlDocuments(r.stdout, `kubectl kustomize ${dir}`);
}

describe('manifests under deploy/', () => {
  it.each(
    manifestDocs.map((d) => [`${d.file}: ${d.object.kind} ${d.object.metadata?.name}`, d.object] as const),
  )('%s is valid against the Kubernetes schema', (_name, object) => {
    expect(validateManifest(object)).toEqual([]);
  });

  it.each(patchDocs.map((d) => [`${d.file}: ${d.object.kind}`, d.object] as const))(
    'the patch %s only uses fields its kind has',
    (_name, object) => {
      expect(unknownFieldErrors(object)).toEqual([]);
    },
  );

  it('rejects a Deployment whose replicas is not an integer', () => {
    const broken = structuredClone(deployment) as { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    expect(validateManifest(broken as unknown as KubeManifest).join('\n')).toMatch(/replicas/);
  });

  it('rejects a container with an unknown field', () => {
    const broken = structuredClone(deployment) as {
      spec: { template: { spec: { containers: Record<string, unknown>[] } } };
    };
    broken.spec.template.spec.containers[0]!.imagePullPolice = 'Always';
    expect(validateManifest(broken as unknown as KubeManifest).join('\n')).toMatch(/imagePullPolice/);
  });

  it('rejects a PodMonitor whose endpoints are not a list', () => {
    const broken = structuredClone(podMonitor) as { spec: { podMetricsEndpoints: unknown } };
    broken.spec.podMetricsEndpoints = { port: 'http' };
    expect(validateManifest(broken as unknown as KubeManifest).join('\n')).toMatch(/podMetricsEndpoints/);
  });
});

describe('kustomizations', () => {
  it('list every file under deploy/ exactly once', () => {
    const listed = listedFiles()
      .filter((l) => l.use !== 'directory')
      .map((l) => relative(ROOT, l.file));
    const files = listFiles(DEPLOY).map((f) => relative(ROOT, f));
    expect(listed.sort()).toEqual(files.sort());
  });

  it('only name paths that exist', () => {
    const missing = listedFiles().filter((l) => !existsSync(l.file));
    expect(missing.map((l) => relative(ROOT, l.file))).toEqual([]);
  });

  it('refer to other kustomizations only by directories that have one', () => {
    const withoutKustomization = listedFiles()
      .filter((l) => l.use === 'directory' && !existsSync(join(l.file, 'kustomization.yaml')))
      .map((l) => relative(ROOT, l.file));
    expect(withoutKustomization).toEqual([]);
  });

  const builds = [
    ...KUSTOMIZE_ROOTS.map((dir) => [dir, () => kustomizeBuild(join(ROOT, dir))] as const),
    [
      'deploy/kubernetes/base with components/monitoring',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'pgroute-kustomize-'));
        try {
          const rel = (p: string) => relative(dir, join(ROOT, p));
          writeFileSync(
            join(dir, 'kustomization.yaml'),
            `resources: [${rel('deploy/kubernetes/base')}]\ncomponents: [${rel('deploy/kubernetes/components/monitoring')}]\n`,
          );
          return kustomizeBuild(dir);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    ] as const,
  ];
  it.skipIf(!hasKubectl).each(builds)('kubectl kustomize %s builds only valid objects', (_dir, build) => {
    const objects = build();
    expect(objects.length).toBeGreaterThan(0);
    expect(
      objects.flatMap((o) => validateManifest(o).map((e) => `${o.kind} ${o.metadata?.name}: ${e}`)),
    ).toEqual([]);
  });
});

type RoleRule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

/** The Secrets a configuration's users[].secret read (their namespace is the pod's: the Role's own). */
const secretNamesOf = (config: Readonly<Config>) =>
  config.users.flatMap((u) => (u.secret === undefined ? [] : [u.secret.name])).sort();

/** The names a Role's secrets rules allow ('*' for a rule without resourceNames: every Secret). */
const grantedSecretNames = (rules: readonly RoleRule[]) =>
  rules
    .filter((r) => r.resources.includes('secrets'))
    .flatMap((r) => r.resourceNames ?? ['*'])
    .sort();

describe('RBAC', () => {
  it('the Role grants exactly the resources and verbs discovery uses', () => {
    const role = manifestDocs.find((d) => d.object.kind === 'Role')!.object as { rules: RoleRule[] };
    const granted = role.rules.flatMap((r) =>
      r.apiGroups.flatMap((apiGroup) =>
        r.resources.map((resource) => ({ apiGroup, resource, verbs: [...r.verbs].sort() })),
      ),
    );
    expect(granted).toEqual(DISCOVERY_ACCESS);
  });

  it('the access table is what discovery/kubernetes calls', () => {
    const dir = join(ROOT, 'discovery/kubernetes');
    const source = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    const calls: { apiGroup: string; resource: string; verb: string }[] = [];
    // Typed client calls: discoveryApi.listNamespacedEndpointSlice(...), coreApi.listNamespacedPod(...).
    for (const m of source.matchAll(/(\w+)Api\.(\w+?)(?:Namespaced|ForAllNamespaces)?([A-Z]\w*)\(/g)) {
      const apiGroup = m[1] === 'core' ? '' : m[1] === 'discovery' ? 'discovery.k8s.io' : `?${m[1]}`;
      const verb = m[2]!.replace(/^read$/, 'get');
      calls.push({ apiGroup, resource: `${m[3]!.toLowerCase()}s`, verb });
    }
    // Watches: watchPath `/api/v1/namespaces/.../pods`, `/apis/discovery.k8s.io/v1/namespaces/.../endpointslices`.
    for (const m of source.matchAll(
      /watchPath: `\/apis?\/(?:([a-z0-9.]+)\/)?v1\/namespaces\/\$\{[^}]+\}\/(\w+)`/g,
    ))
      calls.push({ apiGroup: m[1] ?? '', resource: m[2]!, verb: 'watch' });
    const expected = DISCOVERY_ACCESS.flatMap((a) =>
      a.verbs.map((verb) => ({ apiGroup: a.apiGroup, resource: a.resource, verb })),
    );
    const key = (c: { apiGroup: string; resource: string; verb: string }) =>
      `${c.apiGroup}/${c.resource}:${c.verb}`;
    expect([...new Set(calls.map(key))].sort()).toEqual(expected.map(key).sort());
  });

  it('the base Role grants exactly the Secrets that the base pgroute.yaml reads, by name', () => {
    const role = manifestDocs.find((d) => d.object.kind === 'Role')!.object as { rules: RoleRule[] };
    const config = validateConfig(
      parseYaml(readFileSync(join(DEPLOY, 'kubernetes/base/pgroute.yaml'), 'utf8')) as unknown,
    );
    expect(grantedSecretNames(role.rules)).toEqual(secretNamesOf(config));
  });

  it.skipIf(!hasKubectl)(
    'the rendered cnpg-mycluster overlay grants exactly the Secrets its pgroute.yaml reads, by name',
    () => {
      const objects = kustomizeBuild(join(ROOT, 'deploy/kubernetes/overlays/cnpg-mycluster'));
      const role = objects.find((o) => o.kind === 'Role') as unknown as { rules: RoleRule[] };
      const configMap = objects.find((o) => o.kind === 'ConfigMap') as unknown as {
        data: Record<string, string>;
      };
      const config = validateConfig(parseYaml(configMap.data['pgroute.yaml']!) as unknown);
      expect([grantedSecretNames(role.rules), secretNamesOf(config)]).toEqual([
        ['mycluster-app'],
        ['mycluster-app'],
      ]);
    },
  );
});
