// The proxy survives clients that vanish and servers that die, and reports both as PostgreSQL would.

import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let tp: TestProxy;
const cluster = sharedCluster();

beforeAll(async () => {
  tp = await startTestProxy(cluster, { pool: { size: 2 } });
});

afterAll(async () => {
  await tp.stop();
});

async function connect(): Promise<pg.Client> {
  const c = new pg.Client(tp.params({ mode: 'rw' }));
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe('resilience', () => {
  it('survives a client that vanishes mid-query, and does not reuse its busy server connection', async () => {
    const c = await connect();
    const q = c.query("SELECT pg_sleep(1), 'late'").catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 200));
    (c as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    await q;
    // Both pool slots must still serve fresh clients correctly.
    const clients = await Promise.all([connect(), connect(), connect()]);
    const rs = await Promise.all(clients.map((x, i) => x.query('SELECT $1::int AS i', [i])));
    for (const [i, r] of rs.entries()) expect(r.rows[0].i).toBe(i);
    await Promise.all(clients.map((x) => x.end()));
  });

  it('reports a killed server connection as an error and keeps the client connection open', async () => {
    const c = await connect();
    try {
      await c.query('BEGIN');
      const { rows } = await c.query('SELECT pg_backend_pid() AS pid');
      await cluster.query('pg0', 'SELECT pg_terminate_backend($1)', [rows[0].pid]);
      // The transaction died with its server: PostgreSQL would say 57P01; then the block is aborted.
      await expect(c.query('SELECT 1')).rejects.toMatchObject({
        code: expect.stringMatching(/^(57P01|08006)$/),
      });
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await c.query('ROLLBACK');
      const r = await c.query('SELECT 2 AS two');
      expect(r.rows[0].two).toBe(2);
    } finally {
      await c.end();
    }
  });

  it('answers garbage before startup with a protocol error and stays up', async () => {
    const reply = await new Promise<Buffer>((resolve) => {
      const s = net.connect(tp.params({ mode: 'rw' }).port, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.on('connect', () => s.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4])));
    });
    expect(reply[0]).toBe(0x45); // ErrorResponse
    expect(reply.toString('latin1')).toContain('08P01');
    const c = await connect();
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.end();
  });

  it('rejects an oversized message with 08P01 and closes only that client', async () => {
    const small = await startTestProxy(cluster, { limits: { maxMessageSize: 4096 } });
    try {
      const c = new pg.Client(small.params({ mode: 'rw' }));
      c.on('error', () => {});
      await c.connect();
      await expect(c.query(`SELECT '${'x'.repeat(10_000)}'`)).rejects.toMatchObject({ code: '08P01' });
      const d = new pg.Client(small.params({ mode: 'rw' }));
      await d.connect();
      expect((await d.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await d.end();
    } finally {
      await small.stop();
    }
  });

  it('times out a client that never finishes authenticating', async () => {
    const slow = await startTestProxy(cluster, { limits: { authTimeout: '300ms' } });
    try {
      const closed = await new Promise<string>((resolve) => {
        const s = net.connect(slow.params({ mode: 'rw' }).port, '127.0.0.1');
        const chunks: Buffer[] = [];
        s.on('data', (d) => chunks.push(d));
        s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      });
      expect(closed).toContain('authentication timed out');
    } finally {
      await slow.stop();
    }
  });
});

describe('clients that stop waiting for a server connection', () => {
  async function withPoolOfOne(
    fn: (p: TestProxy, connectTo: () => Promise<pg.Client>) => Promise<void>,
  ): Promise<void> {
    const p = await startTestProxy(cluster, { pool: { size: 1, queueTimeout: '3s' } });
    const clients: pg.Client[] = [];
    const connectTo = async () => {
      const c = new pg.Client(p.params({ mode: 'rw' }));
      c.on('error', () => {});
      clients.push(c);
      await c.connect();
      return c;
    };
    try {
      await fn(p, connectTo);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await p.stop();
    }
  }

  it('does not hand the freed connection to a client that left while waiting', async () => {
    await withPoolOfOne(async (_p, connectTo) => {
      // Logins borrow a server connection too: everyone logs in before the holder takes the only one.
      const [holder, leaver, next] = await Promise.all([connectTo(), connectTo(), connectTo()]);
      await holder.query('BEGIN');
      leaver.query('SELECT 1').catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
      (leaver as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
      await new Promise((r) => setTimeout(r, 100));
      await holder.query('COMMIT');
      // The only server connection must serve the next client, well before the queue timeout.
      expect((await next.query('SELECT 42 AS n')).rows[0].n).toBe(42);
    });
  });

  it('does not hand the freed connection to a client whose wait was cancelled', async () => {
    await withPoolOfOne(async (_p, connectTo) => {
      const [holder, canceller, next] = await Promise.all([connectTo(), connectTo(), connectTo()]);
      await holder.query('BEGIN');
      // Settled into a value at once: the rejection arrives while the cancel is still being sent.
      const waiting = canceller.query('SELECT 1').then(
        () => null,
        (err: unknown) => err,
      );
      await new Promise((r) => setTimeout(r, 100));
      const pid = (canceller as unknown as { processID: number }).processID;
      const secret = (canceller as unknown as { secretKey: number }).secretKey;
      await sendCancel(_p.params({ mode: 'rw' }).port, pid, secret);
      expect(await waiting).toMatchObject({ code: '57014' });
      await holder.query('COMMIT');
      expect((await next.query('SELECT 42 AS n')).rows[0].n).toBe(42);
      // The cancelled client goes on with the same connection.
      expect((await canceller.query('SELECT 7 AS n')).rows[0].n).toBe(7);
    });
  });
});

function sendCancel(port: number, pid: number, secret: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      const b = Buffer.alloc(16);
      b.writeInt32BE(16, 0);
      b.writeInt32BE(80877102, 4);
      b.writeInt32BE(pid, 8);
      b.writeInt32BE(secret, 12);
      s.end(b);
    });
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

describe('requests pipelined while the router holds the first one', () => {
  function message(type: string, body: Buffer): Buffer {
    const head = Buffer.alloc(5);
    head[0] = type.charCodeAt(0);
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  }
  const query = (sql: string) => message('Q', Buffer.from(`${sql}\0`));

  let text = '';
  const received = (): string => text;
  const resetReceived = (): void => {
    text = '';
  };
  const appendReceived = (d: Buffer): void => {
    text += d.toString('latin1');
  };

  /** A raw protocol connection as the trust user, logged in (ReadyForQuery seen). */
  async function rawLogin(port: number): Promise<net.Socket> {
    const socket = net.connect(port, '127.0.0.1');
    text = '';
    socket.on('data', appendReceived);
    await new Promise((r) => socket.once('connect', r));
    const params = Buffer.from(
      `user\0${cluster.descriptor.users.trust.name}\0database\0${cluster.descriptor.database}\0\0`,
    );
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    socket.write(Buffer.concat([startup, params]));
    for (let i = 0; i < 100 && !text.includes('Z\0\0\0\x05I'); i++)
      await new Promise((r) => setTimeout(r, 20));
    text = '';
    return socket;
  }

  it('answers every query of the batch once the hold ends (PAUSE, then RESUME)', async () => {
    const socket = await rawLogin(tp.params({ mode: 'auto', user: 'trust' }).port);
    try {
      // Warm every standby's pool, so the held request finds an idle connection the moment it is let go.
      for (let i = 0; i < 4; i++) {
        socket.write(query('SELECT 0'));
        for (let j = 0; j < 100 && !received().includes('Z\0\0\0\x05I'); j++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(received()).toContain('Z\0\0\0\x05I');
        resetReceived();
      }
      tp.proxy.router.pause();
      // One write, three reads: the first is held, the others wait behind it in the session.
      socket.write(Buffer.concat([query("SELECT 'one'"), query("SELECT 'two'"), query("SELECT 'three'")]));
      await new Promise((r) => setTimeout(r, 200));
      expect(received()).not.toContain('Z\0\0\0\x05I');
      tp.proxy.router.resume();
      for (let i = 0; i < 100 && (received().match(/Z\0\0\0\x05I/g) ?? []).length < 3; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const text = received();
      expect((text.match(/Z\0\0\0\x05I/g) ?? []).length).toBe(3);
      expect(['one', 'two', 'three'].map((w) => text.includes(w))).toEqual([true, true, true]);
    } finally {
      tp.proxy.router.resume();
      socket.destroy();
    }
  });
});
