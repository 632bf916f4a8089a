// Creates the application roles (SCRAM, md5, trust) and database the local cluster exposes to tests.
import type pg from 'pg';

export interface AppUsers {
  scram: { name: string; password: string };
  md5: { name: string; password: string };
  trust: { name: string };
}

type WithDatabase = (database: string, fn: (client: pg.Client) => Promise<void>) => Promise<void>;

/**
 * Runs on the primary before the base backups, so standbys start with the roles already present.
 * The md5 role's verifier is created under password_encryption='md5' so pg_hba's md5 method really
 * exercises MD5 (with a SCRAM verifier, "md5" lines silently upgrade to SCRAM:
 * https://www.postgresql.org/docs/15/auth-password.html).
 */
export async function provisionAppDatabase(
  client: pg.Client,
  users: AppUsers,
  database: string,
  withDatabase: WithDatabase,
): Promise<void> {
  const scram = quoteIdent(users.scram.name);
  const md5 = quoteIdent(users.md5.name);
  const trust = quoteIdent(users.trust.name);
  await client.query(`SET password_encryption = 'scram-sha-256'`);
  await client.query(`CREATE ROLE ${scram} LOGIN PASSWORD ${quoteLiteral(users.scram.password)}`);
  await client.query(`SET password_encryption = 'md5'`);
  await client.query(`CREATE ROLE ${md5} LOGIN PASSWORD ${quoteLiteral(users.md5.password)}`);
  await client.query(`CREATE ROLE ${trust} LOGIN`);
  await client.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${scram}`);
  // PG15 revoked CREATE on schema public from PUBLIC
  // (https://www.postgresql.org/docs/15/ddl-schemas.html#DDL-SCHEMAS-PRIV); default privileges let
  // each app role use tables the others create.
  const all = `${scram}, ${md5}, ${trust}`;
  await withDatabase(database, async (db) => {
    await db.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${all}`);
    await db.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${all} IN SCHEMA public GRANT ALL ON TABLES TO ${all}`);
    await db.query(
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${all} IN SCHEMA public GRANT ALL ON SEQUENCES TO ${all}`,
    );
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
