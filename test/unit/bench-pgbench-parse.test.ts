// Checks that the bench's pgbench parser reads real pgbench 15 summaries (captured on this project's local cluster).
import { describe, expect, it } from 'vitest';
import { buildPgbenchArgs, parsePgbenchOutput } from '../../bench/pgbench.js';

/** pgbench -S -M prepared -c 16 -j 2 -T 3, straight at the primary. */
const SELECT_PREPARED_STDOUT = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 120773
number of failed transactions: 0 (0.000%)
latency average = 0.386 ms
initial connection time = 105.324 ms
tps = 41399.832855 (without initial connection time)
`;

/** pgbench (TPC-B-like) -M simple -c 16 -j 2 -T 3, straight at the primary. */
const TPCB_SIMPLE_STDOUT = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
query mode: simple
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 7894
number of failed transactions: 0 (0.000%)
latency average = 5.911 ms
initial connection time = 121.936 ms
tps = 2706.612342 (without initial connection time)
`;

/** pgbench -S -M prepared -c 16 through PgBouncer 1.18 in transaction mode: 14 of 16 clients abort. */
const PGBOUNCER_PREPARED_STDOUT = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 40645
number of failed transactions: 0 (0.000%)
latency average = 1.144 ms
initial connection time = 94.890 ms
tps = 13988.692717 (without initial connection time)
`;
const PGBOUNCER_PREPARED_STDERR = `pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: client 1 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: ERROR:  prepared statement "P_0" already exists
pgbench: error: client 13 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 10 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 11 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 12 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 7 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 2 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 5 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 6 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 4 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 15 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 8 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 9 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: client 14 script 0 aborted in command 1 query 0: ERROR:  prepared statement "P_0" does not exist
pgbench: error: Run was aborted; the above results are incomplete.
`;

/** The older abort phrasing, captured when the cluster was shut down (immediate) under a TPC-B run. */
const BACKEND_DIED_STDERR = `pgbench: error: client 7 aborted in command 4 (SQL) of script 0; perhaps the backend died while processing
pgbench: error: client 0 aborted in command 9 (SQL) of script 0; perhaps the backend died while processing
WARNING:  terminating connection due to immediate shutdown command
pgbench: error: client 2 aborted in command 7 (SQL) of script 0; perhaps the backend died while processing
pgbench: error: Run was aborted; the above results are incomplete.
`;

/** pgbench against a port nothing listens on (exit 1, no summary). */
const REFUSED_STDERR = `pgbench: error: connection to server at "127.0.0.1", port 47001 failed: Connection refused
	Is the server running on that host and accepting TCP/IP connections?
pgbench: error: could not create connection for setup
`;

/** pgbench with a wrong PGPASSWORD (exit 1, no summary). */
const BAD_PASSWORD_STDERR = `pgbench: error: connection to server at "127.0.0.50", port 38801 failed: FATAL:  password authentication failed for user "app"
pgbench: error: could not create connection for setup
`;

describe('parsePgbenchOutput', () => {
  it('reads tps excluding connection time from a select-only run', () => {
    const result = parsePgbenchOutput(SELECT_PREPARED_STDOUT, 'starting vacuum...end.\n', 0);
    expect(result.kind === 'completed' && result.tps).toBe(41399.832855);
  });

  it('reads the average latency in milliseconds from a TPC-B run', () => {
    const result = parsePgbenchOutput(TPCB_SIMPLE_STDOUT, '', 0);
    expect(result.kind === 'completed' && result.latencyMs).toBe(5.911);
  });

  it('reads the processed and failed transaction counts', () => {
    const result = parsePgbenchOutput(TPCB_SIMPLE_STDOUT, '', 0);
    expect(result.kind === 'completed' && [result.transactions, result.failedTransactions]).toEqual([
      7894, 0,
    ]);
  });

  it('reports a clean run as neither aborted nor with aborted clients', () => {
    const result = parsePgbenchOutput(SELECT_PREPARED_STDOUT, '', 0);
    expect(result.kind === 'completed' && [result.isAborted, result.abortedClients]).toEqual([false, 0]);
  });

  it('counts each aborted client once in the "client N script M aborted" phrasing', () => {
    const result = parsePgbenchOutput(PGBOUNCER_PREPARED_STDOUT, PGBOUNCER_PREPARED_STDERR, 2);
    expect(result.kind === 'completed' && result.abortedClients).toBe(14);
  });

  it('marks a run whose summary is followed by "Run was aborted" as aborted', () => {
    const result = parsePgbenchOutput(PGBOUNCER_PREPARED_STDOUT, PGBOUNCER_PREPARED_STDERR, 2);
    expect(result.kind === 'completed' && result.isAborted).toBe(true);
  });

  it('keeps distinct error messages as a short sample', () => {
    const result = parsePgbenchOutput(PGBOUNCER_PREPARED_STDOUT, PGBOUNCER_PREPARED_STDERR, 2);
    expect(result.kind === 'completed' && result.errorSample).toEqual([
      'ERROR:  prepared statement "P_0" already exists',
      'ERROR:  prepared statement "P_0" does not exist',
    ]);
  });

  it('counts aborted clients in the "aborted in command N (SQL) of script M" phrasing', () => {
    const result = parsePgbenchOutput(TPCB_SIMPLE_STDOUT, BACKEND_DIED_STDERR, 2);
    expect(result.kind === 'completed' && result.abortedClients).toBe(3);
  });

  it('turns a refused connection into a failure carrying the server error', () => {
    const result = parsePgbenchOutput('', REFUSED_STDERR, 1);
    expect(result).toEqual({
      kind: 'failed',
      reason: 'connection to server at "127.0.0.1", port 47001 failed: Connection refused',
    });
  });

  it('turns an authentication failure into a failure naming the user', () => {
    const result = parsePgbenchOutput('', BAD_PASSWORD_STDERR, 1);
    expect(result.kind === 'failed' && result.reason).toContain(
      'password authentication failed for user "app"',
    );
  });

  it('reads the pre-14 "excluding connections establishing" tps line', () => {
    const stdout = TPCB_SIMPLE_STDOUT.replace(
      'tps = 2706.612342 (without initial connection time)',
      'tps = 2600.000000 (including connections establishing)\ntps = 2706.612342 (excluding connections establishing)',
    );
    const result = parsePgbenchOutput(stdout, '', 0);
    expect(result.kind === 'completed' && result.tps).toBe(2706.612342);
  });
});

describe('buildPgbenchArgs', () => {
  const spec = {
    pgbenchPath: 'pgbench',
    host: '127.0.0.1',
    port: 6432,
    user: 'app',
    password: 'app-secret',
    database: 'app',
    clients: 16,
    threads: 2,
    durationS: 3,
  };

  it('adds -S only for the select-only script', () => {
    const select = buildPgbenchArgs({ ...spec, script: 'select', mode: 'simple' });
    const tpcb = buildPgbenchArgs({ ...spec, script: 'tpcb', mode: 'simple' });
    expect([select.includes('-S'), tpcb.includes('-S')]).toEqual([true, false]);
  });

  it('never asks for more threads than clients', () => {
    const args = buildPgbenchArgs({ ...spec, clients: 1, script: 'select', mode: 'prepared' });
    expect(args[args.indexOf('-j') + 1]).toBe('1');
  });
});
