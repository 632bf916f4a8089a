// Gives the users of `users[].secret` their name and password from watched Secrets, and says when they rotate.

import { type Config, ConfigError } from '../../config.js';
import { readPodNamespace, secretCredentialsFromConfig } from './from-config.js';
import {
  type CredentialMap,
  type CredentialSource,
  type SecretRef,
  secretKeyOf,
} from './secret-credentials.js';

/** Builds the source of the Secrets' credentials; tests inject one that reads a fake API server. */
export type CredentialSourceFactory = (
  secrets: readonly SecretRef[],
  onChange: (credentials: CredentialMap) => void,
) => CredentialSource;

export interface SecretUsersLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface SecretUsersOptions {
  log: SecretUsersLogger;
  /** Default: SecretCredentials with the pod's service account, else KUBECONFIG / ~/.kube/config. */
  factory?: CredentialSourceFactory;
  /** Namespace of a Secret that names none, when cluster.kubernetes.namespace is not set either. */
  podNamespace?: () => string | null;
}

type SecretUser = Config['users'][number] & { secret: NonNullable<Config['users'][number]['secret']> };

const hasSecret = (user: Config['users'][number]): user is SecretUser => user.secret !== undefined;

/**
 * Without any `users[].secret` this does nothing and `apply` returns the configuration unchanged. Otherwise it
 * watches every Secret named there; `start` resolves once each has given a user name and password, because
 * without them pgroute could neither accept those users nor log in to PostgreSQL as them.
 */
export class SecretUsers {
  private readonly listeners: Array<() => void> = [];
  private credentials: CredentialMap = new Map();
  private wanted: string[] = [];
  private wake: (() => void) | null = null;
  private isStarted = false;
  private isStopped = false;

  private source: CredentialSource | null = null;

  private constructor(
    private readonly defaultNamespace: string | null,
    private readonly options: SecretUsersOptions,
  ) {}

  static async start(config: Readonly<Config>, options: SecretUsersOptions): Promise<SecretUsers> {
    const namespace =
      config.cluster.kubernetes?.namespace ?? (options.podNamespace ?? (() => readPodNamespace()))();
    const users = new SecretUsers(namespace, options);
    await users.run(config);
    return users;
  }

  /** `config` with each Secret user's name and password as the Secret says now (users not read yet have neither). */
  apply(config: Readonly<Config>): Readonly<Config> {
    if (!config.users.some(hasSecret)) return config;
    const copy = structuredClone(config) as Config;
    copy.users = copy.users.map((user) => {
      const ref = hasSecret(user) ? this.refOf(user) : null;
      if (ref === null) return user;
      const key = secretKeyOf(ref);
      const found = this.credentials.get(key);
      if (found === undefined) {
        // A reload can name a Secret that the watchers started at start-up do not read.
        this.options.log.warn(
          { event: 'credentials-unknown', secret: key },
          `Secret ${key} is not watched: restart pgroute to read it`,
        );
        return user;
      }
      if (user.name !== undefined && user.name !== found.username) {
        // Logging in as someone else than configured would be worse than refusing the user.
        this.options.log.warn(
          { event: 'credentials-mismatch', secret: key, user: user.name },
          `Secret ${key} names another user than users[].name "${user.name}": that user is refused`,
        );
        return { ...user, password: null };
      }
      return { ...user, name: found.username, password: found.password };
    });
    return copy;
  }

  /** Called after each rotation, once the new credentials are what `apply` gives. */
  onRotate(listener: () => void): void {
    this.listeners.push(listener);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    this.wake?.();
    await this.source?.stop();
  }

  private async run(config: Readonly<Config>): Promise<void> {
    const refs: SecretRef[] = [];
    config.users.forEach((user, i) => {
      if (!hasSecret(user)) return;
      const ref = this.refOf(user);
      if (ref === null)
        throw new ConfigError(
          `invalid configuration:\n  users.${i}.secret.namespace: not set, and neither is cluster.kubernetes.namespace (nor is pgroute in a pod)`,
        );
      refs.push(ref);
    });
    if (refs.length === 0) return;
    this.wanted = [...new Set(refs.map(secretKeyOf))];
    const log = this.options.log;
    const factory: CredentialSourceFactory =
      this.options.factory ??
      ((secrets, onChange) =>
        secretCredentialsFromConfig(secrets, onChange, (error, retryInMs, secret) =>
          log.warn(
            { event: 'kubernetes-error', resource: `secret ${secret}`, retryInMs, error: error.message },
            `Kubernetes secret ${secret}: ${error.message}` +
              (retryInMs === null ? '; keeping the last credentials' : `; retrying in ${retryInMs} ms`),
          ),
        ));
    this.source = factory(refs, (credentials) => this.receive(credentials));
    await this.source.start();
    this.credentials = this.source.current();
    while (this.missing().length > 0 && !this.isStopped) {
      log.warn(
        { event: 'credentials-waiting', secrets: this.missing() },
        `waiting for the Secrets ${this.missing().join(', ')} before accepting clients`,
      );
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
    this.isStarted = true;
  }

  private receive(credentials: CredentialMap): void {
    const changed = [...credentials.keys()].filter((key) => {
      const old = this.credentials.get(key);
      const now = credentials.get(key);
      return old?.username !== now?.username || old?.password !== now?.password;
    });
    this.credentials = credentials;
    this.wake?.();
    if (!this.isStarted || changed.length === 0) return;
    // Names only: a value in a log line would outlive the rotation that was meant to retire it.
    this.options.log.info({ event: 'credentials-rotated', secrets: changed }, 'credentials rotated');
    for (const listener of this.listeners) listener();
  }

  private missing(): string[] {
    return this.wanted.filter((key) => !this.credentials.has(key));
  }

  private refOf(user: SecretUser): SecretRef | null {
    const namespace = user.secret.namespace ?? this.defaultNamespace;
    if (namespace === null) return null;
    return {
      name: user.secret.name,
      namespace,
      usernameKey: user.secret.usernameKey,
      passwordKey: user.secret.passwordKey,
    };
  }
}
