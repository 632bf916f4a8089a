// Integration: a user whose name and password come from a watched Kubernetes Secret; rotating the password needs no restart.

import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';
import { buildKubeConfig } from '../../discovery/kubernetes/kube-config.js';
import { SecretCredentials } from '../../discovery/kubernetes/secret-credentials.js';
import { FakeKubeApi, type FakeObject } from '../component/fake-kube-api.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const ROTATED = 'rotated-Pa55word';

let cluster: LocalCluster;
let api: FakeKubeApi;
let tp: TestProxy;
const logLines: string[] = [];

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** The Secret CloudNativePG keeps for the application owner (type kubernetes.io/basic-auth). */
function appSecret(username: string, password: string): FakeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/basic-auth',
    metadata: { name: 'mycluster-app', namespace: 'default', labels: { 'cnpg.io/cluster': 'mycluster' } },
    data: { username: b64(username), password: b64(password) },
  };
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ firstHost: 230, standbys: 0 });
  const app = cluster.descriptor.users.scram;
  api = await FakeKubeApi.start();
  api.load('secrets', { metadata: { resourceVersion: '100' }, items: [appSecret(app.name, app.password)] });
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  tp = await startTestProxy(
    cluster,
    { users: [{ secret: { name: 'mycluster-app', namespace: 'default' } }], admin: { users: [] } },
    {
      log,
      secretCredentials: (secrets, onChange) =>
        new SecretCredentials({
          secrets,
          kubeConfig: buildKubeConfig({ kind: 'explicit', server: api.url, skipTLSVerify: true }),
          onChange,
          backoff: { initialMs: 50, maxMs: 400 },
        }),
    },
  );
});

afterAll(async () => {
  await tp?.stop();
  await api?.close();
  await cluster?.destroy();
});

async function connect(password: string, database = cluster.descriptor.database): Promise<pg.Client> {
  const client = new pg.Client({ ...tp.params({ mode: 'rw' }), password, database });
  await client.connect();
  return client;
}

/** The SQLSTATE a login with `password` fails with, or 'ok'. */
async function loginOutcome(password: string): Promise<string> {
  try {
    const client = await connect(password);
    await client.end();
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

async function currentUser(client: pg.Client): Promise<string> {
  return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
}

async function waitForLog(text: string): Promise<void> {
  for (let i = 0; i < 200 && !logLines.some((l) => l.includes(text)); i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('a user from the Secret mycluster-app', () => {
  it("logs in with the Secret's user name and password", async () => {
    const client = await connect(cluster.descriptor.users.scram.password);
    try {
      expect(await currentUser(client)).toBe(cluster.descriptor.users.scram.name);
    } finally {
      await client.end();
    }
  });

  it('is refused with another password (28P01)', async () => {
    expect(await loginOutcome('not-the-password')).toBe('28P01');
  });
});

describe('after ALTER ROLE ... PASSWORD and the Secret MODIFIED', () => {
  let connectedBefore: pg.Client;
  let rotatedAt: Date;
  const oldPassword = () => cluster.descriptor.users.scram.password;

  beforeAll(async () => {
    connectedBefore = await connect(oldPassword());
    await connectedBefore.query('SELECT 1');
    const app = cluster.descriptor.users.scram.name;
    rotatedAt = (await cluster.query<{ t: Date }>('pg0', 'SELECT now() AS t'))[0]!.t;
    await cluster.query('pg0', `ALTER ROLE ${app} PASSWORD '${ROTATED}'`);
    api.applyEvent('secrets', { type: 'MODIFIED', object: appSecret(app, ROTATED) });
    await waitForLog('credentials rotated');
  });

  afterAll(async () => {
    await connectedBefore?.end();
  });

  it('logs "credentials rotated" without any password', () => {
    const text = logLines.join('\n');
    expect([
      text.includes('credentials rotated'),
      text.includes(ROTATED),
      text.includes(oldPassword()),
    ]).toEqual([true, false, false]);
  });

  it('keeps the client connected before the rotation working', async () => {
    expect(await currentUser(connectedBefore)).toBe(cluster.descriptor.users.scram.name);
  });

  it('refuses a new client with the old password (28P01)', async () => {
    expect(await loginOutcome(oldPassword())).toBe('28P01');
  });

  it('accepts a new client with the new password', async () => {
    expect(await loginOutcome(ROTATED)).toBe('ok');
  });

  it('opens new server connections with the new password', async () => {
    // Another database is another pool: its first statement needs a new login to PostgreSQL, which only the
    // new password passes (pooled connections of the app database logged in before the rotation).
    const client = await connect(ROTATED, 'postgres');
    try {
      const row = (
        await client.query<{ db: string; started: Date }>(
          'SELECT current_database() AS db, backend_start AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()',
        )
      ).rows[0]!;
      expect([row.db, row.started.getTime() > rotatedAt.getTime()]).toEqual(['postgres', true]);
    } finally {
      await client.end();
    }
  });
});
