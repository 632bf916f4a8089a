// The admin console through a real listener, and a reload that changes a pool size and a password without dropping clients.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config.js';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const run = promisify(execFile);
let tp: TestProxy;

beforeAll(async () => {
  tp = await startTestProxy(sharedCluster(), { pool: { size: 4 } });
});

afterAll(async () => {
  await tp.stop();
});

function psql(args: string[], password: string) {
  const p = tp.params({ mode: 'rw' });
  return run('psql', ['-X', '-A', '-F', '|', '-h', p.host, '-p', String(p.port), '-U', p.user, ...args], {
    env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' },
  });
}

describe('admin console', () => {
  it('shows nodes and pools to an admin user through psql -d pgroute', async () => {
    const pw = tp.params().password;
    const nodes = await psql(['-d', 'pgroute', '-c', 'SHOW NODES'], pw);
    for (const i of sharedCluster().descriptor.instances)
      expect(nodes.stdout).toContain(`${i.host}:${i.port}`);
    expect(nodes.stdout).toMatch(/primary/);
    const pools = await psql(['-d', 'pgroute', '-c', 'SHOW POOLS'], pw);
    expect(pools.stdout.split('\n')[0]).toContain('cl_active');
  });

  it('refuses the admin console to a user not in admin.users', async () => {
    const md5 = tp.params({ user: 'md5' });
    const r = await run(
      'psql',
      ['-h', md5.host, '-p', String(md5.port), '-U', md5.user, '-d', 'pgroute', '-c', 'SHOW NODES'],
      {
        env: { ...process.env, PGPASSWORD: md5.password, PGSSLMODE: 'disable' },
      },
    ).catch((e: { stderr: string }) => e);
    expect((r as { stderr: string }).stderr).toContain('may not use the pgroute admin console');
  });

  it('holds new transactions on PAUSE and releases them on RESUME', async () => {
    const pw = tp.params().password;
    const c = new pg.Client(tp.params({ mode: 'auto' }));
    await c.connect();
    try {
      await psql(['-d', 'pgroute', '-c', 'PAUSE'], pw);
      let done = false;
      const q = c.query('SELECT 1 AS one').then((r) => {
        done = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 400));
      expect(done).toBe(false);
      await psql(['-d', 'pgroute', '-c', 'RESUME'], pw);
      expect((await q).rows[0].one).toBe(1);
    } finally {
      await c.end();
    }
  });
});

describe('reload', () => {
  it('changes the pool size and a password without dropping a connected client', async () => {
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    await c.connect();
    try {
      const before = tp.proxy.config;
      const next = validateConfig({
        ...structuredClone(before),
        pool: { ...before.pool, size: 7 },
        users: before.users.map((u) =>
          u.name === 'app_trust' ? { ...u, auth: 'password', password: 'rotated-pw' } : u,
        ),
      });
      const message = await tp.proxy.reload(next);
      expect(message).toContain('pool');
      expect(message).toContain('users');
      expect(tp.proxy.config.pool.size).toBe(7);
      // The connected client keeps working.
      expect((await c.query('SELECT 2 AS two')).rows[0].two).toBe(2);
      // The rotated password is now required for new logins of that user.
      const trust = tp.params({ user: 'trust' });
      const denied = new pg.Client({ ...trust, password: 'wrong' });
      await expect(denied.connect()).rejects.toMatchObject({ code: '28P01' });
      const allowed = new pg.Client({ ...trust, password: 'rotated-pw' });
      await allowed.connect();
      expect((await allowed.query('SELECT current_user AS u')).rows[0].u).toBe(trust.user);
      await allowed.end();
      // Seven server connections may now be open at once to the primary.
      const clients = await Promise.all(
        Array.from({ length: 7 }, async () => {
          const x = new pg.Client(tp.params({ mode: 'rw' }));
          await x.connect();
          await x.query('BEGIN');
          return x;
        }),
      );
      const pids = await Promise.all(
        clients.map(async (x) => (await x.query('SELECT pg_backend_pid() AS p')).rows[0].p),
      );
      expect(new Set(pids).size).toBe(7);
      await Promise.all(
        clients.map(async (x) => {
          await x.query('COMMIT');
          await x.end();
        }),
      );
    } finally {
      await c.end();
    }
  });
});
