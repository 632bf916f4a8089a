// Graceful shutdown: no new clients, running transactions finish, idle clients get 57P01, stragglers are cut at the timeout.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy } from '../harness/proxy.js';

describe('graceful shutdown', () => {
  it('lets a running transaction commit, then closes every client', async () => {
    const tp = await startTestProxy(sharedCluster(), { shutdown: { timeout: '5s' } });
    const busy = new pg.Client(tp.params({ mode: 'rw' }));
    const idle = new pg.Client(tp.params({ mode: 'rw' }));
    const errors: string[] = [];
    busy.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
    idle.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
    await busy.connect();
    await idle.connect();
    await busy.query('BEGIN');
    await busy.query('SELECT 1');
    const stopped = tp.stop();
    await new Promise((r) => setTimeout(r, 200));
    // New clients are refused while the running transaction goes on.
    const late = new pg.Client(tp.params({ mode: 'rw' }));
    await expect(late.connect()).rejects.toBeDefined();
    expect((await busy.query('SELECT 2 AS two')).rows[0].two).toBe(2);
    await busy.query('COMMIT');
    await stopped;
    expect(errors).toContain('57P01');
    await busy.end().catch(() => undefined);
    await idle.end().catch(() => undefined);
  });

  it('cuts a client that stays inside a transaction past shutdown.timeout', async () => {
    const tp = await startTestProxy(sharedCluster(), { shutdown: { timeout: '500ms' } });
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    c.on('error', () => {});
    await c.connect();
    await c.query('BEGIN');
    // stop() must return (after the timeout) although the client never ends its transaction.
    await tp.stop();
    expect(tp.proxy.sessions.size).toBe(0);
    await expect(c.query('SELECT 1')).rejects.toBeDefined();
    await c.end().catch(() => undefined);
  });
});
