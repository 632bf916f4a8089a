// Renders the postgresql.conf / pg_hba.conf text of the local test cluster (pure, no I/O).

export interface ServerConfigOptions {
  synchronous: boolean;
  maxConnections: number;
  /** File (relative to the data dir) holding per-instance settings, included last so it wins. */
  instanceFile: string;
}

export interface InstanceConfigOptions {
  name: string;
  host: string;
  port: number;
  /** '' disables unix sockets (the path limit is 107 bytes; tmpdirs can be long). */
  socketDir: string;
}

export interface HbaOptions {
  trustUser: string;
  md5User: string;
  superuser: string;
  network: string;
}

/**
 * Settings shared by every instance. Speed over durability (fsync/full_page_writes off: the data is
 * thrown away), and replication knobs that make failover observable within a test's patience.
 * https://www.postgresql.org/docs/15/runtime-config-replication.html
 */
export function renderServerConfig(opts: ServerConfigOptions): string {
  const lines = [
    '',
    '# --- pgroute local cluster ---',
    'fsync = off',
    'full_page_writes = off',
    `synchronous_commit = ${opts.synchronous ? 'on' : 'off'}`,
    ...(opts.synchronous ? [`synchronous_standby_names = 'ANY 1 (*)'`] : []),
    'wal_level = replica',
    'hot_standby = on',
    'hot_standby_feedback = on',
    'max_wal_senders = 10',
    `wal_keep_size = '256MB'`,
    `max_connections = ${opts.maxConnections}`,
    'shared_buffers = 32MB',
    'wal_receiver_status_interval = 1s',
    'log_min_messages = warning',
    // Standby-only settings are inert on a primary; keeping them everywhere means a base backup
    // of any instance is already a correctly configured standby.
    'wal_retrieve_retry_interval = 200ms',
    `recovery_target_timeline = 'latest'`,
    `include_if_exists = '${opts.instanceFile}'`,
    '',
  ];
  return lines.join('\n');
}

/**
 * Per-instance identity. cluster_name doubles as the walreceiver's application_name, so
 * pg_stat_replication on the primary names each standby (pg1, pg2).
 */
export function renderInstanceConfig(opts: InstanceConfigOptions): string {
  return [
    `listen_addresses = '${opts.host}'`,
    `port = ${opts.port}`,
    `unix_socket_directories = '${opts.socketDir}'`,
    `cluster_name = '${opts.name}'`,
    '',
  ].join('\n');
}

/** First match wins (https://www.postgresql.org/docs/15/auth-pg-hba-conf.html), so specific users come first. */
export function renderHbaConfig(opts: HbaOptions): string {
  return [
    '# TYPE  DATABASE     USER  ADDRESS  METHOD',
    'local   all          all            trust',
    'local   replication  all            trust',
    `host    all          ${opts.trustUser}  ${opts.network}  trust`,
    `host    all          ${opts.md5User}  ${opts.network}  md5`,
    `host    replication  all  ${opts.network}  trust`,
    `host    all          ${opts.superuser}  ${opts.network}  trust`,
    `host    all          all  ${opts.network}  scram-sha-256`,
    '',
  ].join('\n');
}
