// Unit: SecretUsers fills in users[].secret users from a credential source and reports rotations (no Kubernetes API).

import { describe, expect, it } from 'vitest';
import { type Config, ConfigError, validateConfig } from '../../config.js';
import type {
  CredentialMap,
  CredentialSource,
  SecretCredential,
  SecretRef,
} from '../../discovery/kubernetes/secret-credentials.js';
import { type CredentialSourceFactory, SecretUsers } from '../../discovery/kubernetes/secret-users.js';

/** A credential source the test drives by hand. */
class ManualSource implements CredentialSource {
  readonly values = new Map<string, SecretCredential>();
  isStopped = false;
  constructor(
    readonly secrets: readonly SecretRef[],
    private readonly onChange: (credentials: CredentialMap) => void,
  ) {}
  async start(): Promise<void> {}
  current(): CredentialMap {
    return new Map(this.values);
  }
  async stop(): Promise<void> {
    this.isStopped = true;
  }
  set(key: string, username: string, password: string): void {
    this.values.set(key, { username, password });
    this.onChange(this.current());
  }
}

interface Harness {
  sources: ManualSource[];
  lines: Array<{ level: string; fields: object; message: string }>;
  factory: CredentialSourceFactory;
  log: { info(f: object, m: string): void; warn(f: object, m: string): void };
}

function harness(initial: Record<string, [string, string]> = {}): Harness {
  const h: Harness = {
    sources: [],
    lines: [],
    factory: (secrets, onChange) => {
      const source = new ManualSource(secrets, onChange);
      for (const [key, [u, p]] of Object.entries(initial))
        source.values.set(key, { username: u, password: p });
      h.sources.push(source);
      return source;
    },
    log: {
      info: (fields, message) => h.lines.push({ level: 'info', fields, message }),
      warn: (fields, message) => h.lines.push({ level: 'warn', fields, message }),
    },
  };
  return h;
}

const config = (users: unknown[], kubernetesNamespace?: string): Readonly<Config> =>
  validateConfig({
    cluster: {
      hosts: ['127.0.0.1:5432'],
      ...(kubernetesNamespace
        ? { kubernetes: { namespace: kubernetesNamespace, cluster: 'mycluster' } }
        : {}),
    },
    users,
  });

const noPod = () => null;

describe('SecretUsers', () => {
  it('leaves a configuration without users[].secret as it is and watches nothing', async () => {
    const h = harness();
    const c = config([{ name: 'app', password: 'pw' }]);
    const users = await SecretUsers.start(c, { log: h.log, factory: h.factory, podNamespace: noPod });
    expect([users.apply(c) === c, h.sources.length]).toEqual([true, 0]);
  });

  it("gives a secret user the Secret's name and password", async () => {
    const h = harness({ 'db/mycluster-app': ['app', 's3cret'] });
    const c = config([
      { secret: { name: 'mycluster-app', namespace: 'db' } },
      { name: 'other', password: 'x' },
    ]);
    const users = await SecretUsers.start(c, { log: h.log, factory: h.factory, podNamespace: noPod });
    expect(users.apply(c).users.map((u) => [u.name, u.password])).toEqual([
      ['app', 's3cret'],
      ['other', 'x'],
    ]);
  });

  it('looks for the Secret in cluster.kubernetes.namespace, then in the pod namespace', async () => {
    const h = harness({ 'shop/a': ['a', '1'], 'pod-ns/b': ['b', '2'] });
    await SecretUsers.start(config([{ secret: { name: 'a' } }], 'shop'), {
      log: h.log,
      factory: h.factory,
      podNamespace: () => 'pod-ns',
    });
    await SecretUsers.start(config([{ secret: { name: 'b' } }]), {
      log: h.log,
      factory: h.factory,
      podNamespace: () => 'pod-ns',
    });
    expect(h.sources.map((s) => s.secrets.map((r) => `${r.namespace}/${r.name}`))).toEqual([
      ['shop/a'],
      ['pod-ns/b'],
    ]);
  });

  it('refuses to start when a Secret has no namespace to be looked up in', async () => {
    const h = harness();
    const started = SecretUsers.start(config([{ secret: { name: 'a' } }]), {
      log: h.log,
      factory: h.factory,
      podNamespace: noPod,
    });
    await expect(started).rejects.toThrow(ConfigError);
  });

  it('refuses the user when the Secret names another user than users[].name', async () => {
    const h = harness({ 'db/s': ['intruder', 'pw'] });
    const c = config([{ name: 'app', secret: { name: 's', namespace: 'db' } }]);
    const users = await SecretUsers.start(c, { log: h.log, factory: h.factory, podNamespace: noPod });
    expect([users.apply(c).users[0]!.name, users.apply(c).users[0]!.password]).toEqual(['app', null]);
  });

  it('waits for a Secret it could not read at start', async () => {
    const h = harness();
    const c = config([{ secret: { name: 's', namespace: 'db' } }]);
    let isStarted = false;
    const started = SecretUsers.start(c, { log: h.log, factory: h.factory, podNamespace: noPod }).then(
      (u) => {
        isStarted = true;
        return u;
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = isStarted;
    h.sources[0]!.set('db/s', 'app', 'late');
    const users = await started;
    expect([before, users.apply(c).users[0]!.password]).toEqual([false, 'late']);
  });

  it('calls onRotate after a rotation and logs the Secret, not the password', async () => {
    const h = harness({ 'db/s': ['app', 'old-pw'] });
    const c = config([{ secret: { name: 's', namespace: 'db' } }]);
    const users = await SecretUsers.start(c, { log: h.log, factory: h.factory, podNamespace: noPod });
    const seen: Array<string | null> = [];
    users.onRotate(() => seen.push(users.apply(c).users[0]!.password));
    h.sources[0]!.set('db/s', 'app', 'new-pw');
    const logged = JSON.stringify(h.lines);
    expect([seen, logged.includes('credentials rotated'), /old-pw|new-pw/.test(logged)]).toEqual([
      ['new-pw'],
      true,
      false,
    ]);
  });

  it('stops its credential source', async () => {
    const h = harness({ 'db/s': ['app', 'pw'] });
    const users = await SecretUsers.start(config([{ secret: { name: 's', namespace: 'db' } }]), {
      log: h.log,
      factory: h.factory,
      podNamespace: noPod,
    });
    await users.stop();
    expect(h.sources[0]!.isStopped).toBe(true);
  });
});
