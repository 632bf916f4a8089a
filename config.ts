// The one validated, frozen configuration object: YAML file, then PGROUTE_* environment, then flags.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** "250ms", "5s", "2m", "1h" or a number of milliseconds. */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return Number.NaN;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

/** "64MiB", "1MB", "512kB" or a number of bytes. */
export function parseSize(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return Number.NaN;
  const m = /^\s*(\d+)\s*(B|kB|KiB|MB|MiB|GB|GiB)?\s*$/.exec(v);
  if (!m) return Number.NaN;
  const mult: Record<string, number> = {
    B: 1,
    kB: 1000,
    KiB: 1024,
    MB: 1e6,
    MiB: 1 << 20,
    GB: 1e9,
    GiB: 1 << 30,
  };
  return Number(m[1]) * mult[m[2] ?? 'B']!;
}

const duration = (def: string) =>
  z
    .union([z.number(), z.string()])
    .default(def)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (!Number.isFinite(ms) || ms < 0) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration such as "500ms", "5s", "2m" (got ${JSON.stringify(v)})`,
        });
        return z.NEVER;
      }
      return ms;
    });

const size = (def: string) =>
  z
    .union([z.number(), z.string()])
    .default(def)
    .transform((v, ctx) => {
      const b = parseSize(v);
      if (!Number.isFinite(b) || b <= 0) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a size such as "64MiB" or a number of bytes (got ${JSON.stringify(v)})`,
        });
        return z.NEVER;
      }
      return b;
    });

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected "host:port"');

export const ListenerMode = z.enum(['auto', 'rw', 'ro', 'r']);
export type ListenerMode = z.infer<typeof ListenerMode>;

const listenerSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535),
  mode: ListenerMode.default('auto'),
});

/** A Kubernetes Secret holding a user name and password, e.g. CloudNativePG's `<cluster>-app` (kubernetes.io/basic-auth). */
const userSecretSchema = z.strictObject({
  name: z.string().min(1),
  /** Defaults to cluster.kubernetes.namespace, else the pod's own namespace. */
  namespace: z.string().min(1).optional(),
  usernameKey: z.string().min(1).default('username'),
  passwordKey: z.string().min(1).default('password'),
});

const userSchema = z
  .strictObject({
    /** Optional with `secret` (the Secret's username gives it; if set, the two must match). */
    name: z.string().min(1).optional(),
    password: z.string().nullable().default(null),
    /** Read the password from this file (a mounted Secret) instead; trailing newline dropped. */
    passwordFile: z.string().optional(),
    /** Read name and password from a Kubernetes Secret, watched: a rotated password applies without a restart. */
    secret: userSecretSchema.optional(),
    auth: z.enum(['scram-sha-256', 'md5', 'password', 'trust']).default('scram-sha-256'),
  })
  .refine((u) => u.name !== undefined || u.secret !== undefined, {
    message: 'set name, or secret (whose username gives the name)',
    path: ['name'],
  })
  .refine((u) => u.secret === undefined || (u.password === null && u.passwordFile === undefined), {
    message: 'set one of password, passwordFile or secret',
    path: ['secret'],
  });

const kubernetesSchema = z
  .strictObject({
    /** Defaults to the pod's own namespace (service-account file) when running in Kubernetes. */
    namespace: z.string().min(1).optional(),
    /** CloudNativePG cluster name: watches <cluster>-rw/-ro/-r EndpointSlices and cnpg.io/cluster pods. */
    cluster: z.string().min(1).optional(),
    /** Any other operator: a Service whose EndpointSlices list the instances. */
    service: z.string().min(1).optional(),
    /** Or a pod label selector, e.g. "app=postgres". */
    labelSelector: z.string().min(1).optional(),
    /** Port of the instances when the source does not say (pods). */
    port: z.number().int().min(1).max(65535).default(5432),
  })
  .refine((k) => [k.cluster, k.service, k.labelSelector].filter(Boolean).length === 1, {
    message: 'set exactly one of cluster (CloudNativePG), service or labelSelector',
  });

const configSchema = z.strictObject({
  listen: z
    .array(listenerSchema)
    .min(1)
    .default([{ host: '127.0.0.1', port: 6432, mode: 'auto' }]),
  cluster: z
    .strictObject({
      hosts: z.array(hostPort).default([]),
      kubernetes: kubernetesSchema.optional(),
      /** Credentials of the instance probes (pg_is_in_recovery, LSNs); defaults to the first user. */
      probe: z
        .strictObject({
          user: z.string().optional(),
          password: z.string().optional(),
          passwordFile: z.string().optional(),
          database: z.string().default('postgres'),
          interval: duration('250ms'),
          timeout: duration('1s'),
        })
        .prefault({}),
    })
    .refine((c) => c.hosts.length > 0 || c.kubernetes !== undefined, {
      message: 'set cluster.hosts or cluster.kubernetes',
    }),
  users: z.array(userSchema).min(1),
  pool: z
    .strictObject({
      mode: z.enum(['transaction', 'session']).default('transaction'),
      size: z.number().int().min(1).max(10_000).default(20),
      queueTimeout: duration('30s'),
      maxWaiting: z.number().int().min(0).default(10_000),
      idleTimeout: duration('10m'),
      maxLifetime: duration('1h'),
      connectTimeout: duration('5s'),
    })
    .prefault({}),
  routing: z
    .strictObject({
      /** Reads go to the primary when no standby is eligible (else they wait, then fail). */
      fallbackToPrimary: z.boolean().default(true),
      maxLagBytes: z
        .number()
        .int()
        .min(0)
        .nullable()
        .default(16 * 1024 * 1024),
      maxLagSeconds: z.number().min(0).nullable().default(10),
      readYourWrites: z.boolean().default(true),
      /** How long a write waits for a primary during a failover. */
      primaryWaitTimeout: duration('30s'),
      /** Functions that never write (allow-list) and that always write (deny-list). */
      readFunctions: z.array(z.string()).default([]),
      writeFunctions: z.array(z.string()).default([]),
      weights: z.record(hostPort, z.number().min(0)).default({}),
    })
    .prefault({}),
  server: z
    .strictObject({
      sslmode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
      sslrootcert: z.string().optional(),
    })
    .prefault({}),
  tls: z
    .strictObject({
      cert: z.string(),
      key: z.string(),
      /** require: refuse clients that do not negotiate TLS. */
      mode: z.enum(['allow', 'require']).default('allow'),
    })
    .optional(),
  limits: z
    .strictObject({
      maxClients: z.number().int().min(1).default(10_000),
      maxMessageSize: size('64MiB'),
      /** Time a new client has to finish startup and authentication (PostgreSQL's authentication_timeout). */
      authTimeout: duration('15s'),
      maxPreparedStatements: z.number().int().min(1).default(10_000),
      /** Requests a client may pipeline while it waits for a server. */
      maxPendingBytes: size('1MiB'),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** Configured users allowed into the admin console (`psql -d pgroute`). */
      users: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535),
    })
    .optional(),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      format: z.enum(['json', 'pretty']).default('json'),
      /** Log each statement's SQL text at info level (never the values bound to its parameters). */
      statements: z.boolean().default(false),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** How long running transactions may take to finish after SIGTERM/SIGINT. */
      timeout: duration('30s'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Cross-field checks zod's per-field schema cannot express. */
function checkReferences(c: Config): string[] {
  const names = new Set(c.users.map((u) => u.name));
  // A user whose name comes from a Secret is only known once the Secret is read.
  if (c.users.some((u) => u.name === undefined)) return [];
  return c.admin.users
    .filter((u) => !names.has(u))
    .map((u) => `  admin.users: "${u}" is not one of users[].name`);
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Validate, naming every offending key. */
export function validateConfig(input: unknown): Readonly<Config> {
  const r = configSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const problems = checkReferences(r.data);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  return deepFreeze(r.data);
}

/**
 * PGROUTE_POOL__SIZE=50 sets pool.size; values are parsed as YAML scalars (numbers, booleans, lists).
 * Only names with a section separator (`__`) count: Kubernetes injects service links such as
 * PGROUTE_PORT and PGROUTE_SERVICE_HOST for a Service named pgroute, and those must not break the config.
 */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('PGROUTE_') || v === undefined || !k.includes('__')) continue;
    const path = k
      .slice('PGROUTE_'.length)
      .split('__')
      .map((p) => p.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
    setPath(out, path, parseYaml(v));
  }
  return out;
}

/** `--set pool.size=50` flags: dotted paths, values parsed as YAML scalars; they win over file and env. */
export function applyFlags(raw: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`invalid --set ${JSON.stringify(s)}: expected key.path=value`);
    setPath(out, s.slice(0, eq).split('.'), parseYaml(s.slice(eq + 1)));
  }
  return out;
}

/** Numeric path parts index arrays (users.0.password), others name object keys. */
function setPath(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node: Record<string, unknown> = root;
  for (const p of path.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Replace every passwordFile by the file's content, so the rest of pgroute sees plain passwords. */
export function resolvePasswordFiles(c: Readonly<Config>, readFile = readFileSync): Readonly<Config> {
  const read = (path: string, key: string): string => {
    try {
      return readFile(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(
        `invalid configuration:\n  ${key}: cannot read ${path}: ${(err as Error).message}`,
      );
    }
  };
  const hasFiles = c.users.some((u) => u.passwordFile) || c.cluster.probe.passwordFile;
  if (!hasFiles) return c;
  const copy = structuredClone(c) as Config;
  copy.users.forEach((u, i) => {
    if (u.passwordFile) u.password = read(u.passwordFile, `users.${i}.passwordFile`);
  });
  if (copy.cluster.probe.passwordFile)
    copy.cluster.probe.password = read(copy.cluster.probe.passwordFile, 'cluster.probe.passwordFile');
  return deepFreeze(copy);
}

export function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = {},
  sets: readonly string[] = [],
): Readonly<Config> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read configuration ${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null)
    throw new ConfigError(`configuration ${path} is not a YAML mapping`);
  return resolvePasswordFiles(
    validateConfig(applyFlags(applyEnv(raw as Record<string, unknown>, env), sets)),
  );
}

/** Every configuration key path (for the README reference test). */
export function configKeyPaths(): string[] {
  const out: string[] = [];
  const walk = (schema: z.ZodType, prefix: string): void => {
    let s: z.ZodType = schema;
    for (;;) {
      const def = (
        s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType } }
      ).def;
      if (
        def.type === 'default' ||
        def.type === 'optional' ||
        def.type === 'nullable' ||
        def.type === 'prefault'
      )
        s = def.innerType!;
      else if (def.type === 'pipe') s = def.in!;
      else if (def.type === 'array' && def.element) s = def.element;
      else break;
    }
    if (s instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(s.shape)) {
        const p = prefix ? `${prefix}.${k}` : k;
        out.push(p);
        walk(v as z.ZodType, p);
      }
    }
  };
  walk(configSchema, '');
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
