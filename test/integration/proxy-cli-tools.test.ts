// psql and pgbench through pgroute: the tools operators reach for first.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { REPLY_BATCHING, startTestProxy, type TestProxy } from '../harness/proxy.js';

const run = promisify(execFile);
let tp: TestProxy;

beforeAll(async () => {
  tp = await startTestProxy(sharedCluster(), { pool: { size: 8 } });
  // pgbench tables live in their own schema so other test files are not disturbed.
  await run(
    'psql',
    [tp.url({ mode: 'rw' }), '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE SCHEMA IF NOT EXISTS bench'],
    { env: env() },
  );
  await run('pgbench', ['-i', '-s', '1', '-q', tp.url({ mode: 'rw' })], {
    env: env({ PGOPTIONS: '-c search_path=bench' }),
  });
}, 120_000);

afterAll(async () => {
  await run('psql', [tp.url({ mode: 'rw' }), '-c', 'DROP SCHEMA IF EXISTS bench CASCADE'], { env: env() });
  await tp.stop();
});

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'disable', ...extra };
}

describe('psql through pgroute', () => {
  it('runs a script with meta-commands, a transaction and \\copy', async () => {
    const script = [
      '\\set ON_ERROR_STOP 1',
      'CREATE TEMP TABLE t AS SELECT g AS id FROM generate_series(1, 10) g;',
      'BEGIN;',
      'INSERT INTO t VALUES (11);',
      'COMMIT;',
      '\\copy (SELECT id FROM t ORDER BY id) TO STDOUT',
      'SELECT count(*) AS n FROM t;',
    ].join('\n');
    const { stdout: out } = await execWithInput(tp.url({ mode: 'rw' }), script);
    const lines = out.trim().split('\n');
    expect(lines.slice(0, 11)).toEqual(Array.from({ length: 11 }, (_, i) => String(i + 1)));
    expect(lines[lines.length - 1]).toBe('11');
  });

  it("shows the server's client_encoding and server_version", async () => {
    const { stdout } = await execWithInput(
      tp.url({ mode: 'rw' }),
      "SHOW client_encoding;\nSELECT current_setting('server_version_num')::int >= 150000;",
    );
    expect(stdout.trim().split('\n')).toEqual(['UTF8', 't']);
  });

  it('prints a clear error for a wrong password', async () => {
    const r = await run('psql', [tp.url({ mode: 'rw', password: 'nope' }), '-c', 'select 1'], {
      env: env(),
    }).catch((e: { stderr: string; code: number }) => e);
    expect((r as { code: number }).code).not.toBe(0);
    expect((r as { stderr: string }).stderr).toContain('password authentication failed for user');
  });
});

describe.each(REPLY_BATCHING)('pgbench through pgroute, $name', (batching) => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy(sharedCluster(), { pool: { size: 8 } }, { turnBatcher: batching.make() });
  });
  afterAll(() => proxy.stop());

  for (const mode of ['simple', 'extended', 'prepared'] as const) {
    it(`runs -M ${mode} at 32 clients without a failed transaction`, async () => {
      await expectCleanPgbench(proxy, mode);
    }, 120_000);
  }
});

/** pgbench's default TPC-B-like script, 50 transactions for each of 32 clients over 2 threads. */
async function expectCleanPgbench(proxy: TestProxy, mode: 'simple' | 'extended' | 'prepared'): Promise<void> {
  const { stdout } = await run(
    'pgbench',
    ['-n', '-M', mode, '-c', '32', '-j', '2', '-t', '50', proxy.url({ mode: 'rw' })],
    { env: env({ PGOPTIONS: '-c search_path=bench' }), maxBuffer: 10 << 20 },
  );
  expect(stdout).toMatch(/number of transactions actually processed: 1600\/1600/);
  expect(stdout).toMatch(/number of failed transactions: 0 /);
}

function execWithInput(url: string, input: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'psql',
      [url, '-X', '-A', '-t', '-q', '-f', '-'],
      { env: env() },
      (err, stdout, stderr) =>
        err ? reject(Object.assign(err, { stdout, stderr })) : resolve({ stdout, stderr }),
    );
    child.stdin!.end(input);
  });
}
