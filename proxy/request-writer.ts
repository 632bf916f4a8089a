// Writes one client message to a server connection: renames prepared statements, prepares them lazily, records owed replies.

import { isSpace } from '../router/normalize.js';
import type { ClientMessage } from './client-message.js';
import { ProxyError, SqlState } from './errors.js';
import type { Outbox } from './outbox.js';
import { type PreparedStatements, TooManyStatementsError } from './prepared-statements.js';
import {
  OWED_BIND,
  OWED_DESCRIBE_PORTAL,
  OWED_EXECUTE,
  OWED_FUNCTION_CALL,
  OWED_QUERY,
  OWED_SYNC,
  OWED_UNNAMED_PARSE,
} from './reply-queue.js';
import type { ServerConnection } from './server/server-connection.js';
import type { StatementClassifier, StatementInfo } from './session-types.js';
import { CLOSE_COMPLETE, PARSE_COMPLETE } from './wire/backend-messages.js';
import { Frontend } from './wire/codes.js';
import {
  buildParse,
  buildTarget,
  isPortalTarget,
  isUnnamedBind,
  isUnnamedParse,
  readParse,
  readQuery,
  readTarget,
  rebuildBind,
} from './wire/frontend-messages.js';

export type WriteResult =
  | {
      kind: 'ok';
      /** The statement the message runs, when it carries SQL (Query, Parse). */
      info: StatementInfo | null;
      isExtended: boolean;
      /** A reply was queued that the proxy answers itself: flush it if it is at the head. */
      hasFake: boolean;
    }
  | { kind: 'error'; error: ProxyError };

const DROPS_STATEMENTS = /^\s*(discard\s+(all|plans)|deallocate\s+(prepare\s+)?all)\b/i;

/**
 * Statements one server connection keeps prepared (PgBouncer's max_prepared_statements plays the same
 * role); clients share them by content, so this is per distinct statement, not per client.
 */
export const SERVER_STATEMENT_CACHE = 1000;

const OK_NONE: WriteResult = { kind: 'ok', info: null, isExtended: false, hasFake: false };

/**
 * Server-side statement names are content hashes shared by all clients; a statement the server
 * connection lacks is prepared just before its first Bind or Describe, and its ParseComplete hidden.
 */
export function writeRequest(
  conn: ServerConnection,
  statements: PreparedStatements,
  classifier: StatementClassifier,
  out: Outbox,
  m: ClientMessage,
  known?: StatementInfo | null,
): WriteResult {
  const q = conn.queue;
  switch (m.type) {
    case Frontend.Parse: {
      if (isUnnamedParse(m)) {
        // Nothing to rename: decode the SQL only if the caller has not classified it already.
        const info = known ?? classifier.classifyPrepared(readParse(m.msg).query);
        q.push(OWED_UNNAMED_PARSE);
        relay(out, m);
        return { kind: 'ok', info, isExtended: true, hasFake: false };
      }
      const p = readParse(m.msg);
      const info = known ?? classifier.classifyPrepared(p.query);
      let stmt: ReturnType<PreparedStatements['define']>;
      try {
        stmt = statements.define(p.name, p.query, p.paramTypes);
      } catch (err) {
        if (err instanceof TooManyStatementsError) {
          return {
            kind: 'error',
            error: new ProxyError(err.code, SqlState.ProgramLimitExceeded, err.message, 'FATAL'),
          };
        }
        throw err;
      }
      if (conn.prepared.has(stmt.serverName)) {
        touch(conn, stmt.serverName);
        q.push({ kind: 'fake', reply: PARSE_COMPLETE });
        return { kind: 'ok', info, isExtended: true, hasFake: true };
      }
      prepareOn(conn, out, stmt.serverName, stmt.query, stmt.paramTypes, true);
      return { kind: 'ok', info, isExtended: true, hasFake: false };
    }
    case Frontend.Bind: {
      if (isUnnamedBind(m)) {
        q.push(OWED_BIND);
        relay(out, m);
        return OK_NONE;
      }
      const msg = m.msg;
      const { head, stmt } = statements.forBind(msg);
      if (stmt) ensurePrepared(conn, out, stmt.serverName, stmt.query, stmt.paramTypes);
      q.push(OWED_BIND);
      // Unnamed or unknown statements go as they are: the server reports 26000 itself.
      if (stmt) out.push(rebuildBind(msg, head, stmt.serverName));
      else relay(out, m);
      return OK_NONE;
    }
    case Frontend.Describe: {
      if (isPortalTarget(m)) {
        q.push(OWED_DESCRIBE_PORTAL);
        relay(out, m);
        return OK_NONE;
      }
      const t = readTarget(m.msg);
      const stmt = t.name ? statements.get(t.name) : undefined;
      if (stmt) ensurePrepared(conn, out, stmt.serverName, stmt.query, stmt.paramTypes);
      q.push({ kind: 'describe-statement', forward: true });
      if (stmt) out.push(buildTarget(Frontend.Describe, 'S', stmt.serverName));
      else relay(out, m);
      return OK_NONE;
    }
    case Frontend.Close: {
      const t = readTarget(m.msg);
      if (t.target === 'S' && t.name !== '') {
        // The server-side statement is shared and cached; only the client's name goes away.
        statements.delete(t.name);
        q.push({ kind: 'fake', reply: CLOSE_COMPLETE });
        return { kind: 'ok', info: null, isExtended: true, hasFake: true };
      }
      q.push({ kind: 'close', forward: true });
      relay(out, m);
      return OK_NONE;
    }
    case Frontend.Query: {
      const msg = m.msg;
      const info = known ?? classifier.classify(readQuery(msg));
      // The client dropped every server-side statement itself: forget ours, re-prepare lazily.
      if (mayDropStatements(msg) && DROPS_STATEMENTS.test(readQuery(msg))) conn.prepared.clear();
      const settings =
        info.settings.length === 0
          ? info.settings
          : info.settings.filter((s) => !s.isLocal && !s.name.startsWith('pgroute.'));
      q.push(settings.length > 0 ? { kind: 'query', forward: true, settings } : OWED_QUERY);
      relay(out, m);
      return { kind: 'ok', info, isExtended: false, hasFake: false };
    }
    case Frontend.Execute:
      q.push(OWED_EXECUTE);
      break;
    case Frontend.Sync:
      q.push(OWED_SYNC);
      break;
    case Frontend.FunctionCall:
      q.push(OWED_FUNCTION_CALL);
      break;
    case Frontend.Flush:
    case Frontend.CopyData:
    case Frontend.CopyDone:
    case Frontend.CopyFail:
      break;
    default:
      return {
        kind: 'error',
        error: new ProxyError(
          'UNKNOWN_MESSAGE',
          SqlState.ProtocolViolation,
          `invalid frontend message type ${m.type}`,
          'FATAL',
        ),
      };
  }
  relay(out, m);
  return OK_NONE;
}

/** The message as the client sent it: a range of its chunk (merged with its neighbours, no copy). */
function relay(out: Outbox, m: ClientMessage): void {
  out.pushRange(m.chunk, m.start, m.end);
}

/** DISCARD and DEALLOCATE both start with a D: anything else is ruled out without decoding the text. */
function mayDropStatements(query: Buffer): boolean {
  let i = 5;
  while (i < query.length && isSpace(query[i]!)) i++;
  return query[i] === 0x44 || query[i] === 0x64;
}

function ensurePrepared(
  conn: ServerConnection,
  out: Outbox,
  serverName: string,
  query: string,
  paramTypes: Buffer,
): void {
  if (conn.prepared.has(serverName)) {
    touch(conn, serverName);
    return;
  }
  prepareOn(conn, out, serverName, query, paramTypes, false);
}

function prepareOn(
  conn: ServerConnection,
  out: Outbox,
  serverName: string,
  query: string,
  paramTypes: Buffer,
  isForwarded: boolean,
): void {
  conn.queue.push({ kind: 'parse', forward: isForwarded, serverName });
  out.push(buildParse(serverName, query, paramTypes));
  conn.prepared.set(serverName, true);
  conn.newestPrepared = serverName;
  // Bound the server's memory: the least recently used statement is closed (its CloseComplete hidden);
  // a client that uses it again gets it prepared again.
  if (conn.prepared.size > SERVER_STATEMENT_CACHE) {
    const oldest = conn.prepared.keys().next().value as string;
    conn.prepared.delete(oldest);
    conn.queue.push({ kind: 'close', forward: false });
    out.push(buildTarget(Frontend.Close, 'S', oldest));
  }
}

/**
 * Least recently used first: re-insert on use. A connection serving one statement over and over
 * (the usual case) already has it last, and skips the two hash operations.
 */
function touch(conn: ServerConnection, key: string): void {
  if (conn.newestPrepared === key) return;
  conn.prepared.delete(key);
  conn.prepared.set(key, true);
  conn.newestPrepared = key;
}
