// Answers a client whose transaction died with its server: errors until ROLLBACK, as PostgreSQL would (25P02).

import { ProxyError, SqlState } from './errors.js';
import type { Outbox } from './outbox.js';
import type { StatementInfo } from './session-types.js';
import {
  BIND_COMPLETE,
  CLOSE_COMPLETE,
  commandComplete,
  NO_DATA,
  PARSE_COMPLETE,
  readyForQuery,
} from './wire/backend-messages.js';
import { Frontend, type TxStatus } from './wire/codes.js';

/** The part of a session this module changes. */
export interface SessionRoute {
  txStatus: TxStatus;
  isTxLost: boolean;
  /** The server's own error, reported once in place of the first 25P02. */
  lostError: Buffer | null;
}

const ABORTED = new ProxyError(
  'IN_FAILED_TRANSACTION',
  SqlState.InFailedSqlTransaction,
  'current transaction is aborted, commands ignored until end of transaction block',
);

function takeError(session: SessionRoute): Buffer {
  const e = session.lostError ?? ABORTED.toMessage();
  session.lostError = null;
  return e;
}

function endsBlock(info: StatementInfo | undefined): boolean {
  return !!info?.txEffects.some((e) => e?.kind === 'rollback' || e?.kind === 'commit');
}

/**
 * The server that held the client's transaction block is gone, so PostgreSQL's own answer cannot be
 * had; we give the one it would give to an aborted block: 25P02 for everything, and "ROLLBACK" for
 * ROLLBACK or COMMIT, which end the block.
 */
export function answerLostTransaction(
  session: SessionRoute,
  batch: readonly { type: number; msg: Buffer }[],
  infos: readonly StatementInfo[],
  out: Outbox,
): void {
  const isEnd = infos.length > 0 && infos.every(endsBlock);
  let hasFailed = false;
  for (const m of batch) {
    switch (m.type) {
      case Frontend.Query:
        if (isEnd) {
          out.push(commandComplete('ROLLBACK'));
          session.isTxLost = false;
          session.txStatus = 'I';
        } else out.push(takeError(session));
        out.push(readyForQuery(session.txStatus));
        break;
      case Frontend.Sync:
        if (isEnd && !hasFailed) {
          session.isTxLost = false;
          session.txStatus = 'I';
        }
        out.push(readyForQuery(session.txStatus));
        hasFailed = false;
        break;
      default:
        if (hasFailed) break;
        if (!isEnd) {
          out.push(takeError(session));
          hasFailed = true;
          break;
        }
        if (m.type === Frontend.Parse) out.push(PARSE_COMPLETE);
        else if (m.type === Frontend.Bind) out.push(BIND_COMPLETE);
        else if (m.type === Frontend.Describe) out.push(NO_DATA);
        else if (m.type === Frontend.Execute) out.push(commandComplete('ROLLBACK'));
        else if (m.type === Frontend.Close) out.push(CLOSE_COMPLETE);
    }
  }
}
