// Watches named Kubernetes Secrets (e.g. CloudNativePG's <cluster>-app) and reports the user names and passwords in them.

import { CoreV1Api, type KubeConfig, Watch } from '@kubernetes/client-node';
import type { BackoffOptions } from './backoff.js';
import type { KubeList, KubeObject } from './kube-objects.js';
import { ResourceWatcher } from './resource-watcher.js';

/**
 * What reading Secrets asks of the API. A Role can narrow list and watch to named Secrets with `resourceNames`
 * because every request carries the field selector `metadata.name=<name>`
 * (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources). No `get`: a watch
 * after a list is all this needs.
 */
export const SECRET_ACCESS = { apiGroup: '', resource: 'secrets', verbs: ['list', 'watch'] } as const;

export interface SecretRef {
  name: string;
  namespace: string;
  /** Key of `data` holding the user name; `username` in a kubernetes.io/basic-auth Secret. */
  usernameKey: string;
  /** Key of `data` holding the password; `password` in a kubernetes.io/basic-auth Secret. */
  passwordKey: string;
}

export interface SecretCredential {
  username: string;
  password: string;
}

/** Credentials by `secretKeyOf(ref)` ("namespace/name"). */
export type CredentialMap = ReadonlyMap<string, SecretCredential>;

/** Something that holds the credentials of some Secrets and says when they change (tests inject their own). */
export interface CredentialSource {
  /** Resolves once every Secret's first list has answered or failed (then retries in the background). */
  start(): Promise<void>;
  /** The last credentials read from each Secret, whether or not the API is reachable now. */
  current(): CredentialMap;
  stop(): Promise<void>;
}

export type SecretProblem = 'not-found' | 'missing-key';

/** A Secret that cannot give credentials; the message names the Secret and key, never a value. */
export class SecretContentError extends Error {
  readonly code = 'ERR_PGROUTE_SECRET_CONTENT';
  constructor(
    readonly secret: string,
    readonly problem: SecretProblem,
    detail: string,
  ) {
    super(`secret ${secret}: ${detail}`);
    this.name = 'SecretContentError';
  }
}

export interface SecretCredentialsOptions {
  secrets: readonly SecretRef[];
  kubeConfig: KubeConfig;
  /** After start: every time a Secret's user name or password changed. */
  onChange: (credentials: CredentialMap) => void;
  /**
   * API failures (retried after `retryInMs`) and unusable Secrets (`retryInMs` null: read again when the Secret
   * changes). The last good credentials stay in force either way.
   */
  onError?: (error: Error, retryInMs: number | null, secret: string) => void;
  backoff?: BackoffOptions;
  /** Server-side ?timeoutSeconds= of each watch; default 300. */
  watchTimeoutSeconds?: number;
}

interface SecretLike extends KubeObject {
  type?: string;
  /** Base64 values (https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data). */
  data?: Record<string, string> | null;
}

export function secretKeyOf(ref: { namespace: string; name: string }): string {
  return `${ref.namespace}/${ref.name}`;
}

type ReadResult = { ok: true; credential: SecretCredential } | { ok: false; error: SecretContentError };

/** Decodes the two keys; the values are the Secret's bytes as UTF-8, not trimmed (a password may end in blanks). */
export function readSecretCredential(secret: SecretLike, ref: SecretRef): ReadResult {
  const key = secretKeyOf(ref);
  const data = secret.data ?? {};
  const missing = [ref.usernameKey, ref.passwordKey].filter((k) => typeof data[k] !== 'string');
  if (missing.length > 0)
    return {
      ok: false,
      error: new SecretContentError(key, 'missing-key', `no data key ${missing.join(', ')}`),
    };
  const decode = (k: string) => Buffer.from(data[k]!, 'base64').toString('utf8');
  return { ok: true, credential: { username: decode(ref.usernameKey), password: decode(ref.passwordKey) } };
}

/** client-node's Watch with a fixed field selector added to every watch request. */
class FieldSelectorWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly fieldSelector: string,
  ) {
    super(config);
  }

  override watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: Parameters<Watch['watch']>[2],
    done: Parameters<Watch['watch']>[3],
  ): Promise<AbortController> {
    return super.watch(path, { ...query, fieldSelector: this.fieldSelector }, callback, done);
  }
}

/**
 * One list + watch per Secret, each with `fieldSelector=metadata.name=<name>` so that RBAC can grant exactly those
 * Secrets. ResourceWatcher resumes from the resourceVersion, relists after 410 Gone, backs off while the API fails
 * and keeps the last objects through outages. A deleted or malformed Secret keeps the last good credentials: an
 * operator recreating its Secret must not lock every client out in between.
 */
export class SecretCredentials implements CredentialSource {
  private readonly watchers: ResourceWatcher<SecretLike>[];
  private readonly values = new Map<string, SecretCredential>();
  private isStarted = false;

  constructor(private readonly options: SecretCredentialsOptions) {
    const coreApi = options.kubeConfig.makeApiClient(CoreV1Api);
    const unique = new Map(options.secrets.map((ref) => [secretKeyOf(ref), ref]));
    this.watchers = [...unique.values()].map((ref) => {
      const key = secretKeyOf(ref);
      const namespace = ref.namespace;
      const fieldSelector = `metadata.name=${ref.name}`;
      return new ResourceWatcher<SecretLike>({
        resource: `secret ${key}`,
        watchPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        watch: new FieldSelectorWatch(options.kubeConfig, fieldSelector),
        list: () =>
          coreApi.listNamespacedSecret({ namespace, fieldSelector }) as Promise<KubeList<SecretLike>>,
        onChange: (objects) => this.update(ref, objects),
        onError: (error, retryInMs) => options.onError?.(error, retryInMs, key),
        backoff: options.backoff,
        watchTimeoutSeconds: options.watchTimeoutSeconds,
      });
    });
  }

  async start(): Promise<void> {
    for (const watcher of this.watchers) watcher.start();
    await Promise.all(this.watchers.map((watcher) => watcher.firstAttempt()));
    this.isStarted = true;
  }

  current(): CredentialMap {
    return new Map(this.values);
  }

  async stop(): Promise<void> {
    this.isStarted = false;
    await Promise.all(this.watchers.map((watcher) => watcher.stop()));
  }

  private update(ref: SecretRef, objects: readonly SecretLike[]): void {
    const key = secretKeyOf(ref);
    const secret = objects.find((object) => object.metadata?.name === ref.name);
    const read: ReadResult =
      secret === undefined
        ? { ok: false, error: new SecretContentError(key, 'not-found', 'not found') }
        : readSecretCredential(secret, ref);
    if (!read.ok) {
      this.options.onError?.(read.error, null, key);
      return;
    }
    const old = this.values.get(key);
    const next = read.credential;
    if (old !== undefined && old.username === next.username && old.password === next.password) return;
    this.values.set(key, next);
    if (this.isStarted) this.options.onChange(this.current());
  }
}
