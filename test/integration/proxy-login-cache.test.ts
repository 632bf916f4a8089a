// Logins answered from the pool's login cache: no server connection borrowed, the same parameters, settings still applied.

import type { EventEmitter } from 'node:events';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let tp: TestProxy;

beforeAll(async () => {
  // One server connection: a client inside a transaction holds it, and any login that needs a
  // server waits for it (or fails after the queue timeout).
  tp = await startTestProxy(sharedCluster(), { pool: { mode: 'transaction', size: 1, queueTimeout: '3s' } });
});

afterAll(async () => {
  await tp.stop();
});

interface Login {
  client: pg.Client;
  /** Every ParameterStatus the login was sent. */
  params: Record<string, string>;
}

function startLogin(settings: { application_name?: string; options?: string }): {
  client: pg.Client;
  params: Record<string, string>;
  done: Promise<Login>;
} {
  const client = new pg.Client({ ...tp.params({ mode: 'rw' }), ...settings });
  const params: Record<string, string> = {};
  (client as unknown as { connection: EventEmitter }).connection.on(
    'parameterStatus',
    (m: { parameterName: string; parameterValue: string }) => {
      params[m.parameterName] = m.parameterValue;
    },
  );
  return { client, params, done: client.connect().then(() => ({ client, params })) };
}

async function login(settings: { application_name?: string; options?: string }): Promise<Login> {
  return await startLogin(settings).done;
}

describe('login cache', () => {
  it('answers a login with settings a server accepted before, without a server connection', async () => {
    const stats = tp.proxy.stats;
    const a = await login({ application_name: 'login-cache-a' });
    const holder = a.client;
    try {
      expect(a.params.application_name).toBe('login-cache-a');
      expect(a.params.server_version).toMatch(/^15\./);
      // The only server connection stays with this transaction until COMMIT.
      await holder.query('BEGIN');
      await holder.query('SELECT 1');
      const fromCache = stats.loginsFromCache;
      const b = await login({ application_name: 'login-cache-a' });
      try {
        expect(b.params).toEqual(a.params);
        expect(stats.loginsFromCache).toBe(fromCache + 1);
        await holder.query('COMMIT');
        // The settings still reach the server the session gets.
        const r = await b.client.query("SELECT current_setting('application_name') AS a");
        expect(r.rows[0].a).toBe('login-cache-a');
      } finally {
        await b.client.end();
      }
    } finally {
      await holder.end();
    }
  });

  it('runs a login on a server when no server has accepted its settings yet', async () => {
    const stats = tp.proxy.stats;
    const holder = (await login({ application_name: 'login-cache-holder' })).client;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1');
      const fromServer = stats.loginsFromServer;
      const c = startLogin({ application_name: 'login-cache-new' });
      let isDone = false;
      void c.done.then(() => {
        isDone = true;
      });
      // Round trips of the transaction that holds the server: the new login cannot finish meanwhile.
      for (let i = 0; i < 20; i++) await holder.query('SELECT 2');
      expect(isDone).toBe(false);
      await holder.query('COMMIT');
      const done = await c.done;
      try {
        expect(done.params.application_name).toBe('login-cache-new');
        expect(stats.loginsFromServer).toBe(fromServer + 1);
      } finally {
        await done.client.end();
      }
    } finally {
      await holder.end();
    }
  });

  it('still rejects at login a startup setting the server refuses, after a valid one was cached', async () => {
    const ok = await login({ options: '-c statement_timeout=5s' });
    expect((await ok.client.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('5s');
    await ok.client.end();
    const bad = startLogin({ options: '-c statement_timeout=soon' });
    await expect(bad.done).rejects.toMatchObject({ code: '22023' });
    await bad.client.end().catch(() => {});
  });
});
