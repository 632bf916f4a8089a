// Component: SecretCredentials (real @kubernetes/client-node) against the fake API server serving a CloudNativePG app Secret.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildKubeConfig } from '../../discovery/kubernetes/kube-config.js';
import {
  type CredentialMap,
  SecretContentError,
  SecretCredentials,
  type SecretRef,
} from '../../discovery/kubernetes/secret-credentials.js';
import { FakeKubeApi, type FakeObject } from './fake-kube-api.js';

const KEY = 'default/mycluster-app';
const APP_SECRET: SecretRef = {
  name: 'mycluster-app',
  namespace: 'default',
  usernameKey: 'username',
  passwordKey: 'password',
};

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Shaped like the Secret CloudNativePG creates for the application owner. */
function appSecret(password: string, options: { name?: string; username?: string } = {}): FakeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/basic-auth',
    metadata: {
      name: options.name ?? 'mycluster-app',
      namespace: 'default',
      labels: { 'cnpg.io/cluster': 'mycluster', 'cnpg.io/reload': 'true' },
    },
    data: {
      username: b64(options.username ?? 'app'),
      password: b64(password),
      dbname: b64('app'),
      host: b64('mycluster-rw'),
      port: b64('5432'),
    },
  };
}

let api: FakeKubeApi;
let credentials: SecretCredentials | undefined;
let changes: CredentialMap[];
let errors: Array<{ error: Error; retryInMs: number | null; secret: string }>;
let waiters: Array<() => void>;

beforeEach(async () => {
  api = await FakeKubeApi.start();
  api.load('secrets', {
    metadata: { resourceVersion: '500' },
    items: [appSecret('first-password'), appSecret('other', { name: 'mycluster-superuser' })],
  });
  changes = [];
  errors = [];
  waiters = [];
});

afterEach(async () => {
  await credentials?.stop();
  credentials = undefined;
  await api.close();
});

const notify = () =>
  waiters.splice(0).forEach((wake) => {
    wake();
  });

async function startCredentials(secrets: SecretRef[] = [APP_SECRET]): Promise<SecretCredentials> {
  credentials = new SecretCredentials({
    secrets,
    kubeConfig: buildKubeConfig({ kind: 'explicit', server: api.url, skipTLSVerify: true }),
    backoff: { initialMs: 50, maxMs: 400 },
    onChange: (map) => {
      changes.push(map);
      notify();
    },
    onError: (error, retryInMs, secret) => {
      errors.push({ error, retryInMs, secret });
      notify();
    },
  });
  await credentials.start();
  return credentials;
}

/** Resolves once `predicate` holds (checked now and after every change or error). */
async function waitUntil(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise<void>((resolve) => waiters.push(resolve));
}

const passwordNow = () => credentials?.current().get(KEY)?.password;
/** Resolves once the first watch of the Secret is open (the fake registers it before recording the request). */
const watchOpened = () => api.waitForRequest((r) => r.resource === 'secrets' && r.isWatch);

function rotate(password: string): void {
  api.applyEvent('secrets', { type: 'MODIFIED', object: appSecret(password) });
}

describe('SecretCredentials initial list', () => {
  it('reads user name and password from the Secret, decoded from base64', async () => {
    await startCredentials();
    expect(credentials!.current().get(KEY)).toEqual({ username: 'app', password: 'first-password' });
  });

  it('lists and watches only the named Secret, so a Role can grant it by resourceNames', async () => {
    await startCredentials();
    await api.waitForRequest((r) => r.resource === 'secrets' && r.isWatch);
    const secretRequests = api.requests.filter((r) => r.resource === 'secrets');
    expect(new Set(secretRequests.map((r) => r.fieldSelector))).toEqual(
      new Set(['metadata.name=mycluster-app']),
    );
  });

  it('watches from the resourceVersion of its list, with bookmarks', async () => {
    await startCredentials();
    const watch = await api.waitForRequest((r) => r.resource === 'secrets' && r.isWatch);
    expect({ rv: watch.resourceVersion, bookmarks: watch.allowWatchBookmarks }).toEqual({
      rv: '500',
      bookmarks: true,
    });
  });

  it.each(['12345', 'true', 'a: b', '#x', '  padded  ', 'ünïcødé', `q"'\\$x`])(
    'keeps a password %j exactly as the Secret holds it',
    async (password) => {
      api.load('secrets', { metadata: { resourceVersion: '600' }, items: [appSecret(password)] });
      await startCredentials();
      expect(passwordNow()).toBe(password);
    },
  );

  it('reads other keys when usernameKey and passwordKey say so', async () => {
    api.load('secrets', {
      metadata: { resourceVersion: '600' },
      items: [
        { metadata: { name: 'custom', namespace: 'default' }, data: { user: b64('u1'), pw: b64('p1') } },
      ],
    });
    await startCredentials([
      { name: 'custom', namespace: 'default', usernameKey: 'user', passwordKey: 'pw' },
    ]);
    expect(credentials!.current().get('default/custom')).toEqual({ username: 'u1', password: 'p1' });
  });

  it('reports a Secret without the password key by name and key, without any value', async () => {
    api.load('secrets', {
      metadata: { resourceVersion: '600' },
      items: [
        { metadata: { name: 'mycluster-app', namespace: 'default' }, data: { username: b64('app-user') } },
      ],
    });
    await startCredentials();
    expect(credentials!.current().has(KEY)).toBe(false);
    expect(errors.map((e) => [e.error instanceof SecretContentError, e.error.message, e.retryInMs])).toEqual([
      [true, 'secret default/mycluster-app: no data key password', null],
    ]);
  });

  it('reports a Secret that does not exist', async () => {
    await startCredentials([{ ...APP_SECRET, name: 'missing-app' }]);
    expect(errors.map((e) => (e.error as SecretContentError).problem)).toEqual(['not-found']);
  });
});

describe('SecretCredentials watch', () => {
  it('reports a rotated password from a MODIFIED event', async () => {
    await startCredentials();
    await watchOpened();
    rotate('second-password');
    await waitUntil(() => changes.length > 0);
    expect(changes.map((c) => c.get(KEY)?.password)).toEqual(['second-password']);
  });

  it('does not report a MODIFIED event that changes neither user name nor password', async () => {
    await startCredentials();
    await watchOpened();
    rotate('first-password');
    rotate('third-password');
    await waitUntil(() => changes.length > 0);
    expect(changes.map((c) => c.get(KEY)?.password)).toEqual(['third-password']);
  });

  it('ignores changes to other Secrets of the namespace', async () => {
    await startCredentials();
    await watchOpened();
    api.applyEvent('secrets', {
      type: 'MODIFIED',
      object: appSecret('changed', { name: 'mycluster-superuser' }),
    });
    rotate('second-password');
    await waitUntil(() => changes.length > 0);
    expect(changes.map((c) => [...c.values()].map((v) => v.password))).toEqual([['second-password']]);
  });

  it('keeps the last credentials when the Secret is deleted', async () => {
    await startCredentials();
    await watchOpened();
    api.applyEvent('secrets', { type: 'DELETED', object: appSecret('first-password') });
    await waitUntil(() => errors.length > 0);
    expect([passwordNow(), (errors[0]!.error as SecretContentError).problem]).toEqual([
      'first-password',
      'not-found',
    ]);
  });

  it('relists after 410 Gone and picks up a rotation it had no event for', async () => {
    await startCredentials();
    await watchOpened();
    const before = api.requests.length;
    api.replaceSilently('secrets', [appSecret('rotated-while-compacted')]);
    api.compact('secrets', 'event');
    await waitUntil(() => passwordNow() === 'rotated-while-compacted');
    const relist = api.requests.slice(before).find((r) => r.resource === 'secrets' && !r.isWatch);
    expect(relist?.fieldSelector).toBe('metadata.name=mycluster-app');
  });

  it('relists after an HTTP 410 on the watch request', async () => {
    await startCredentials();
    await watchOpened();
    api.replaceSilently('secrets', [appSecret('after-http-410')]);
    api.compact('secrets', 'http');
    await waitUntil(() => passwordNow() === 'after-http-410');
    expect(changes.at(-1)?.get(KEY)?.password).toBe('after-http-410');
  });
});

describe('SecretCredentials while the API server is away', () => {
  it('keeps the last credentials and reports the outage with a retry delay', async () => {
    await startCredentials();
    await watchOpened();
    await api.goAway();
    await waitUntil(() => errors.length > 0);
    expect([passwordNow(), typeof errors[0]!.retryInMs]).toEqual(['first-password', 'number']);
  });

  it('reads a rotation made during the outage once the API is back', async () => {
    await startCredentials();
    await watchOpened();
    await api.goAway();
    await waitUntil(() => errors.length > 0);
    api.replaceSilently('secrets', [appSecret('rotated-during-outage')]);
    api.compact('secrets', 'http');
    await api.comeBack();
    await waitUntil(() => passwordNow() === 'rotated-during-outage');
    expect(changes.map((c) => c.get(KEY)?.password)).toEqual(['rotated-during-outage']);
  });

  it('starts without credentials when the API is down, then reads them when it comes back', async () => {
    await api.goAway();
    await startCredentials();
    expect(credentials!.current().size).toBe(0);
    await api.comeBack();
    await waitUntil(() => changes.length > 0);
    expect(changes[0]!.get(KEY)).toEqual({ username: 'app', password: 'first-password' });
  });

  it('never puts a password in an error', async () => {
    api.failRequests(2, 403);
    await startCredentials();
    await waitUntil(() => passwordNow() !== undefined);
    rotate('second-password');
    await api.goAway();
    await waitUntil(() => errors.length >= 3);
    const text = errors.map((e) => `${e.error.message} ${e.error.stack}`).join('\n');
    expect([errors.length >= 3, /first-password|second-password/.test(text)]).toEqual([true, false]);
  });
});
