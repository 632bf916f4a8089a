// SQL probes of a running instance's replication state, each on its own short-lived superuser connection.
import pg from 'pg';
import { pollUntil } from './poll-until.js';

export interface ProbeTarget {
  name: string;
  host: string;
  port: number;
}

export type InstanceState = 'primary' | 'standby' | 'down';

/** A server stopped mid-session emits 'error' on the client; unhandled it would crash the process. */
export async function withClient<T>(
  target: ProbeTarget,
  user: string,
  database: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user,
    database,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** 'down' covers refused connections and servers still starting up (57P03). */
export async function readInstanceState(target: ProbeTarget, user: string): Promise<InstanceState> {
  try {
    const rows = await withClient(target, user, 'postgres', async (client) => {
      const result = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      return result.rows;
    });
    return rows[0]?.r ? 'standby' : 'primary';
  } catch {
    return 'down';
  }
}

/**
 * The target is the insert position, not pg_current_wal_lsn(): with synchronous_commit=off a
 * committed row may not be written yet. A tiny locally-synchronous commit then flushes up to it, so
 * the walsender can ship it (https://www.postgresql.org/docs/15/wal-async-commit.html).
 */
export async function readFlushedInsertLsn(primary: ProbeTarget, user: string): Promise<string> {
  return withClient(primary, user, 'postgres', async (client) => {
    const result = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    await client.query('BEGIN');
    await client.query('SET LOCAL synchronous_commit = local');
    await client.query('SELECT pg_current_xact_id()');
    await client.query('COMMIT');
    return result.rows[0]!.lsn;
  });
}

export async function waitForStandbyReplay(
  standby: ProbeTarget,
  user: string,
  lsn: string,
  timeoutMs: number,
): Promise<void> {
  await pollUntil(
    `${standby.name} to replay ${lsn}`,
    async () => {
      const rows = await withClient(standby, user, 'postgres', async (client) => {
        const result = await client.query<{ ok: boolean }>(
          'SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS ok',
          [lsn],
        );
        return result.rows;
      });
      return rows[0]?.ok === true;
    },
    { timeoutMs },
  );
}
