// Answers a request of nothing but Parse messages for statements some server already accepted, without a server.

import type { ClientMessage } from './client-message.js';
import type { Outbox } from './outbox.js';
import { type PreparedStatements, serverNameFor } from './prepared-statements.js';
import { PARSE_COMPLETE, readyForQuery } from './wire/backend-messages.js';
import { Frontend, type TxStatus } from './wire/codes.js';
import { isUnnamedParse, readParse } from './wire/frontend-messages.js';

/**
 * A batch of nothing but Parse (of statements some server already accepted) and Sync/Flush needs no
 * server: the statements are recorded and ParseComplete answered here; they are prepared lazily on
 * the server that first runs them. Besides saving a round trip, this keeps clients that prepare
 * synchronously while other connections of theirs hold servers (pgbench -M prepared) from
 * deadlocking on a full pool. Returns false, having changed nothing, when the batch needs a server.
 */
export function answerKnownParses(
  batch: readonly ClientMessage[],
  txStatus: TxStatus,
  knownStatements: { has(name: string): boolean },
  statements: PreparedStatements,
  out: Outbox,
): boolean {
  if (txStatus !== 'I') return false;
  const parses: ReturnType<typeof readParse>[] = [];
  for (const m of batch) {
    if (m.type === Frontend.Sync || m.type === Frontend.Flush) continue;
    if (m.type !== Frontend.Parse || isUnnamedParse(m)) return false;
    const p = readParse(m.msg);
    if (!knownStatements.has(serverNameFor(p.query, p.paramTypes))) return false;
    parses.push(p);
  }
  if (parses.length === 0) return false;
  for (const p of parses) {
    try {
      statements.define(p.name, p.query, p.paramTypes);
    } catch {
      return false; // over the limit: let the normal path report it
    }
  }
  for (const m of batch) {
    if (m.type === Frontend.Parse) out.push(PARSE_COMPLETE);
    else if (m.type === Frontend.Sync) out.push(readyForQuery(txStatus));
  }
  return true;
}
