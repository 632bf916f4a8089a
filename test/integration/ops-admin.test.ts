// The admin console driven by real psql and node-postgres, over a real pgroute in front of the shared cluster.
//
// The listener does not route `-d pgroute` to the console yet, so a small server here plays its part: it reads
// the startup packet, answers AuthenticationOk and hands the socket to AdminSession, as the listener will.

import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminSession } from '../../proxy/admin/admin-session.js';
import { parseStartupPacket } from '../../proxy/wire/startup.js';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

const run = promisify(execFile);
const AUTH_OK = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);

let tp: TestProxy;
let consoleServer: net.Server;
let port: number;
/** What RELOAD does; each test that uses it sets it. */
let reload: () => Promise<string> = async () => 'nothing to reload';

beforeAll(async () => {
  tp = await startTestProxy(sharedCluster(), { pool: { size: 4 } });
  await tp.proxy.discovery.waitFor((s) => s.instances.filter((i) => i.isEligible).length === 3, 15_000);
  const log = pino({ level: 'silent' });
  consoleServer = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    void readStartup(socket).then(
      ({ user, rest }) => {
        socket.write(AUTH_OK);
        new AdminSession(socket, user, {
          source: tp.proxy,
          config: tp.proxy.config,
          pause: () => tp.proxy.router.pause(),
          resume: () => tp.proxy.router.resume(),
          reload: () => reload(),
          log,
        }).start(rest);
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => consoleServer.listen(0, '127.0.0.1', resolve));
  port = (consoleServer.address() as net.AddressInfo).port;
});

afterAll(async () => {
  tp?.proxy.router.resume();
  await new Promise((resolve) => consoleServer?.close(resolve));
  await tp?.stop();
});

/** Reads length-prefixed startup packets until the StartupMessage (declining SSL), then returns what follows. */
function readStartup(socket: net.Socket): Promise<{ user: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= buf.readInt32BE(0)) {
        const len = buf.readInt32BE(0);
        const packet = parseStartupPacket(buf.subarray(0, len));
        buf = buf.subarray(len);
        if (packet.kind === 'ssl-request' || packet.kind === 'gssenc-request') {
          socket.write('N');
          continue;
        }
        socket.off('data', onData);
        if (packet.kind === 'startup') resolve({ user: packet.params.get('user') ?? '', rest: buf });
        else reject(new Error(`unexpected ${packet.kind}`));
        return;
      }
    };
    socket.on('data', onData);
  });
}

/** psql against the console: unaligned, '|'-separated, no psqlrc. */
async function psql(...commands: string[]): Promise<string[]> {
  const args = ['-X', '-A', '-F', '|', '-h', '127.0.0.1', '-p', String(port), '-U', 'app', '-d', 'pgroute'];
  for (const c of commands) args.push('-c', c);
  const { stdout } = await run('psql', args, {
    env: { ...process.env, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' },
  });
  return stdout.trim().split('\n');
}

/** Rows of an unaligned result as objects keyed by column name (header first, "(n rows)" last). */
function rowsOf(lines: string[]): Record<string, string>[] {
  const [header, ...rest] = lines;
  const cols = header!.split('|');
  return rest
    .filter((l) => !/^\(\d+ rows?\)$/.test(l))
    .map((l) => Object.fromEntries(l.split('|').map((v, i) => [cols[i]!, v])));
}

describe('admin console through psql', () => {
  it('SHOW NODES lists every instance with its role, writability and LSNs', async () => {
    const rows = rowsOf(await psql('SHOW NODES'));
    const d = sharedCluster().descriptor;
    expect(rows.map((r) => r.instance).sort()).toEqual(d.instances.map((i) => `${i.host}:${i.port}`).sort());
    const primary = rows.filter((r) => r.role === 'primary');
    expect(primary).toHaveLength(1);
    expect(primary[0]!.writable).toBe('t');
    expect(primary[0]!.instance).toBe(tp.proxy.discovery.current().primaryId);
    expect(primary[0]!.current_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    for (const s of rows.filter((r) => r.role === 'standby')) {
      expect(s.writable).toBe('f');
      expect(s.replay_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    }
  });

  it('accepts lower case and a trailing semicolon', async () => {
    const lines = await psql('show lists;');
    expect(rowsOf(lines).find((r) => r.list === 'instances')?.items).toBe('3');
  });

  it('SHOW POOLS and SHOW CLIENTS show a client of the proxy and the pool it used', async () => {
    const client = new pg.Client(tp.params({ mode: 'rw' }));
    await client.connect();
    try {
      await client.query('SELECT 1');
      const user = tp.params().user;
      const pools = rowsOf(await psql('SHOW POOLS'));
      const mine = pools.find(
        (p) => p.user === user && p.instance === tp.proxy.discovery.current().primaryId,
      );
      expect(mine).toMatchObject({ role: 'primary', pool_mode: 'transaction' });
      const clients = rowsOf(await psql('SHOW CLIENTS'));
      expect(
        clients.filter((c) => c.user === user && c.listener?.startsWith('rw@')).length,
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await client.end();
    }
  });

  it('SHOW CONFIG redacts passwords', async () => {
    const lines = await psql('SHOW CONFIG');
    const password = sharedCluster().descriptor.users.scram.password;
    expect(lines).toContain('users.0.password|REDACTED');
    expect(lines.join('\n')).not.toContain(password);
    expect(lines).toContain('pool.size|4');
  });

  it('answers an unknown command with a syntax error that does not repeat it', async () => {
    const err = (await psql('DROP TABLE secret_stuff').catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('unknown command');
    expect(err.stderr).not.toContain('secret_stuff');
  });

  it('reports the RELOAD result as a notice, and a failed reload as an error', async () => {
    reload = async () => 'configuration reloaded: 1 change';
    const ok = await run(
      'psql',
      ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'app', '-d', 'pgroute', '-c', 'RELOAD'],
      {
        env: { ...process.env, PGSSLMODE: 'disable' },
      },
    );
    expect(ok.stderr).toContain('configuration reloaded: 1 change');
    expect(ok.stdout.trim()).toBe('RELOAD');
    reload = async () => {
      throw new Error('pool.size: expected a number');
    };
    const err = (await psql('RELOAD').catch((e: unknown) => e)) as { stderr: string };
    expect(err.stderr).toContain('reload failed: pool.size: expected a number');
  });

  it('holds queries through the proxy between PAUSE and RESUME', async () => {
    const client = new pg.Client(tp.params({ mode: 'rw' }));
    await client.connect();
    try {
      expect(await psql('PAUSE')).toEqual(['PAUSE']);
      let isDone = false;
      const query = client.query('SELECT 42 AS answer').then((r) => {
        isDone = true;
        return r.rows[0] as { answer: number };
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(isDone).toBe(false);
      expect(rowsOf(await psql('SHOW LISTS')).find((r) => r.list === 'held_writes')?.items).toBe('1');
      expect(await psql('RESUME')).toEqual(['RESUME']);
      expect(await query).toEqual({ answer: 42 });
    } finally {
      tp.proxy.router.resume();
      await client.end();
    }
  });
});

describe('admin console through node-postgres', () => {
  it('refuses the extended protocol with 0A000 and keeps the session usable', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'app', database: 'pgroute' });
    await client.connect();
    try {
      const err = (await client.query('SHOW NODES', ['x']).catch((e: unknown) => e)) as { code: string };
      expect(err.code).toBe('0A000');
      const r = await client.query('SHOW HELP');
      expect(r.rows.map((row: { command: string }) => row.command)).toContain('SHOW NODES');
      expect(r.command).toBe('SHOW');
    } finally {
      await client.end();
    }
  });

  it('runs several commands of one query in order', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'app', database: 'pgroute' });
    await client.connect();
    try {
      const results = (await client.query('SHOW LISTENERS; SHOW NODES')) as unknown as pg.QueryResult[];
      expect(results).toHaveLength(2);
      expect(results[0]!.rows.map((r: { mode: string }) => r.mode).sort()).toEqual(['auto', 'r', 'ro', 'rw']);
      expect(results[1]!.rows).toHaveLength(3);
    } finally {
      await client.end();
    }
  });
});
