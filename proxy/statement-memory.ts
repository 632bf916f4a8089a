// A session's memory of its recent statements: classifies each client message for routing, repeats without decoding.

import type { ClassifyMemo } from '../router/classify.js';
import { QueryShapes } from '../router/query-shape.js';
import type { ClientMessage } from './client-message.js';
import { mentionsPgroute } from './local-commands.js';
import { ParseMemo } from './parse-memo.js';
import type { PreparedStatements } from './prepared-statements.js';
import type { StatementClassifier, StatementInfo } from './session-types.js';
import { Frontend } from './wire/codes.js';
import { isUnnamedBind, readParse } from './wire/frontend-messages.js';

/**
 * Applications send the same few statements again and again, by the same bytes or with other
 * literals: a session remembers the last ones it classified, so a repeat costs a byte comparison
 * instead of decoding, normalising and looking up its text. One per session (what it remembers is
 * what this client sent); the classifier's epoch makes everything remembered stale at once.
 */
export class StatementMemory {
  /** Recent Parse messages, byte for byte, and their classifications. */
  private readonly parses = new ParseMemo<StatementInfo>();
  /** The last simple-protocol statement classified, by normalised text. */
  private readonly lastQuery: ClassifyMemo = { key: null, base: null, epoch: -1, spans: [], isShared: false };
  /** Recent statements by their bytes: a repeat with other literals needs no decoding at all. */
  private readonly queryShapes = new QueryShapes<StatementInfo>();

  constructor(
    /** Read at each use: the proxy may swap its classifier (a reload). */
    private readonly deps: { readonly classifier: StatementClassifier },
    private readonly statements: PreparedStatements,
  ) {}

  /** The classification of a Query whose bytes match a remembered shape, or null. */
  shapeOf(msg: Buffer): StatementInfo | null {
    return this.queryShapes.match(msg, this.deps.classifier.epoch);
  }

  /** Classification of the statements a message runs, for routing; `sql` is a Query's text. */
  describe(m: ClientMessage, sql: string | null): StatementInfo | null {
    if (sql !== null) {
      const classifier = this.deps.classifier;
      const memo = this.lastQuery;
      const info = classifier.classify(sql, memo);
      // A pgroute.* command inside a batch reaches this point; answered from its shape later, a lone
      // one would skip the local answer.
      if (memo.isShared && !mentionsPgroute(sql))
        this.queryShapes.remember(m.msg, sql, memo.spans, info, classifier.epoch);
      return info;
    }
    if (m.type === Frontend.Parse) {
      // Drivers send the same Parse again and again: the bytes are compared before the text is
      // decoded and looked up (see ParseMemo).
      const classifier = this.deps.classifier;
      const known = this.parses.match(m, classifier.epoch);
      if (known !== null) return known;
      const classified = classifier.classifyPrepared(readParse(m.msg).query);
      // Session SETs through the extended protocol pin (they are not replayed): route them as such.
      const info = classified.pin === 'session-set' ? { ...classified, settings: [] } : classified;
      this.parses.remember(m.msg, info, classifier.epoch);
      return info;
    }
    if (m.type === Frontend.Bind) {
      // The unnamed statement was classified with its Parse.
      if (isUnnamedBind(m)) return null;
      const { stmt } = this.statements.forBind(m.msg);
      return stmt ? this.deps.classifier.classifyPrepared(stmt.query) : null;
    }
    return null;
  }
}
