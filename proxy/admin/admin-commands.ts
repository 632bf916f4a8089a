// Parses and runs one admin console command (SHOW ..., PAUSE, RESUME, RELOAD): text in, result set or tag out.

import type { MetricsSource } from '../../metrics/metrics-source.js';
import { ProxyError } from '../errors.js';
import {
  type PoolModeView,
  showClients,
  showConfig,
  showListeners,
  showLists,
  showNodes,
  showPools,
  showServers,
  showStats,
  type Table,
} from './admin-tables.js';

/** What the commands act on: the proxy's read-only view plus the few controls the console has. */
export interface AdminControls {
  source: MetricsSource;
  /** The validated configuration (SHOW CONFIG redacts its secrets). */
  config: PoolModeView & object;
  /** New requests wait until resume; running transactions finish. */
  pause(): void;
  resume(): void;
  /** Re-read the configuration; resolves with a message for the operator, rejects with the reason it failed. */
  reload(): Promise<string>;
}

export type AdminResult =
  | { kind: 'rows'; table: Table; tag: string }
  | { kind: 'done'; tag: string; notice: string | null };

const SHOW_TABLES = [
  'CLIENTS',
  'CONFIG',
  'HELP',
  'LISTENERS',
  'LISTS',
  'NODES',
  'POOLS',
  'SERVERS',
  'STATS',
] as const;
type ShowTarget = (typeof SHOW_TABLES)[number];

export type AdminCommand =
  | { kind: 'show'; target: ShowTarget }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'reload' };

const HELP: [string, string][] = [
  ['SHOW POOLS', 'server connection pools: clients, servers, wait (PgBouncer columns) by instance'],
  ['SHOW CLIENTS', 'client sessions: state, listener, pin, server'],
  ['SHOW SERVERS', 'server connections: state, instance, backend pid, bytes'],
  ['SHOW NODES', 'instances: role, health, timeline, LSNs, replication lag'],
  ['SHOW STATS', 'requests routed, transactions, errors, bytes'],
  ['SHOW LISTENERS', 'listening sockets and their clients'],
  ['SHOW LISTS', 'counts of listeners, instances, pools, clients, servers'],
  ['SHOW CONFIG', 'effective configuration (secrets redacted)'],
  ['PAUSE', 'hold new requests; running transactions finish'],
  ['RESUME', 'release held requests'],
  ['RELOAD', 're-read the configuration file'],
  ['SHOW HELP', 'this list'],
];

export class UnknownAdminCommandError extends ProxyError {
  constructor() {
    // The command text is not repeated back: the console answers only with what it knows.
    super(
      'ADMIN_UNKNOWN_COMMAND',
      '42601',
      'pgroute admin: unknown command',
      'ERROR',
      undefined,
      'SHOW HELP lists the commands',
    );
  }
}

export class AdminReloadError extends ProxyError {
  constructor(reason: string) {
    // F0000 config_file_error (PostgreSQL Appendix A, class F0).
    super('ADMIN_RELOAD_FAILED', 'F0000', `pgroute admin: reload failed: ${reason}`);
  }
}

/** Statements of one simple Query: admin commands contain no quotes, so ';' always separates them. */
export function splitStatements(query: string): string[] {
  return query
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Case-insensitive, any whitespace between words; null when the text is not a command. */
export function parseAdminCommand(statement: string): AdminCommand | null {
  const words = statement.trim().replace(/;+$/, '').trim().toUpperCase().split(/\s+/);
  if (words.length === 1) {
    if (words[0] === 'PAUSE') return { kind: 'pause' };
    if (words[0] === 'RESUME') return { kind: 'resume' };
    if (words[0] === 'RELOAD') return { kind: 'reload' };
  }
  if (words.length === 2 && words[0] === 'SHOW') {
    const target = SHOW_TABLES.find((t) => t === words[1]);
    if (target) return { kind: 'show', target };
  }
  return null;
}

function showTable(target: ShowTarget, c: AdminControls): Table {
  switch (target) {
    case 'POOLS':
      return showPools(c.source, c.config);
    case 'CLIENTS':
      return showClients(c.source);
    case 'SERVERS':
      return showServers(c.source);
    case 'NODES':
      return showNodes(c.source);
    case 'STATS':
      return showStats(c.source);
    case 'LISTENERS':
      return showListeners(c.source);
    case 'LISTS':
      return showLists(c.source);
    case 'CONFIG':
      return showConfig(c.config);
    case 'HELP':
      return { columns: ['command', 'description'], rows: HELP };
  }
}

export async function runAdminCommand(cmd: AdminCommand, c: AdminControls): Promise<AdminResult> {
  switch (cmd.kind) {
    case 'show':
      // PgBouncer answers every SHOW with the bare "SHOW" command tag.
      return { kind: 'rows', table: showTable(cmd.target, c), tag: 'SHOW' };
    case 'pause':
      c.pause();
      return { kind: 'done', tag: 'PAUSE', notice: null };
    case 'resume':
      c.resume();
      return { kind: 'done', tag: 'RESUME', notice: null };
    case 'reload': {
      let message: string;
      try {
        message = await c.reload();
      } catch (err) {
        throw new AdminReloadError(err instanceof Error ? err.message : String(err));
      }
      return { kind: 'done', tag: 'RELOAD', notice: message };
    }
  }
}
