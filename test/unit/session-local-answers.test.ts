// Pure session decisions: which statements pin a pooled session, and Parse-only requests answered without a server.
import { describe, expect, it } from 'vitest';
import { ClientMessage } from '../../proxy/client-message.js';
import { answerKnownParses } from '../../proxy/known-parses.js';
import { Outbox } from '../../proxy/outbox.js';
import { pinReasonFor } from '../../proxy/pin-reason.js';
import { PreparedStatements, serverNameFor } from '../../proxy/prepared-statements.js';
import type { StatementInfo } from '../../proxy/session-types.js';
import { PARSE_COMPLETE, readyForQuery } from '../../proxy/wire/backend-messages.js';
import { Frontend } from '../../proxy/wire/codes.js';
import { buildParse, buildQuery } from '../../proxy/wire/frontend-messages.js';

function info(pin: string | null, settings: StatementInfo['settings'] = []): StatementInfo {
  return { target: 'any', reason: 'read', pin, settings, hint: null, txEffects: [] };
}

describe('pinReasonFor', () => {
  it('pins on session state that cannot follow the client to another server', () => {
    expect(pinReasonFor(info('listen'), false)).toBe('listen');
    expect(pinReasonFor(info('temp-table'), true)).toBe('temp-table');
    expect(pinReasonFor(info(null), false)).toBeNull();
  });

  it('replays a simple-protocol SET with a known value instead of pinning', () => {
    const set = info('session-set', [{ name: 'timezone', value: 'UTC', isLocal: false }]);
    expect(pinReasonFor(set, false)).toBeNull();
    // Through the extended protocol the SET is not replayed.
    expect(pinReasonFor(set, true)).toBe('session-set');
  });

  it('pins a SET whose value only the server knows, or that only sets pgroute.* or local values', () => {
    expect(
      pinReasonFor(info('session-set', [{ name: 'timezone', value: null, isLocal: false }]), false),
    ).toBe('session-set');
    expect(
      pinReasonFor(
        info('session-set', [{ name: 'pgroute.target', value: 'primary', isLocal: false }]),
        false,
      ),
    ).toBe('session-set');
    expect(
      pinReasonFor(info('session-set', [{ name: 'timezone', value: 'UTC', isLocal: true }]), false),
    ).toBe('session-set');
  });
});

function parse(name: string, sql: string): ClientMessage {
  return ClientMessage.of(Frontend.Parse, buildParse(name, sql, Buffer.alloc(0)));
}
const SYNC = ClientMessage.of(Frontend.Sync, Buffer.from([Frontend.Sync, 0, 0, 0, 4]));

function written(out: Outbox): Buffer {
  let b = Buffer.alloc(0);
  out.flush({
    write: (x: Buffer) => {
      b = Buffer.from(x);
      return true;
    },
  });
  return b;
}

describe('answerKnownParses', () => {
  const sql = 'SELECT $1::int';
  const known = new Set([serverNameFor(sql, Buffer.alloc(0))]);

  it('answers ParseComplete and ReadyForQuery for statements a server already accepted', () => {
    const statements = new PreparedStatements(10);
    const out = new Outbox();
    expect(answerKnownParses([parse('s1', sql), SYNC], 'I', known, statements, out)).toBe(true);
    expect(statements.get('s1')?.query).toBe(sql);
    expect(written(out).equals(Buffer.concat([PARSE_COMPLETE, readyForQuery('I')]))).toBe(true);
  });

  it('leaves to a server anything else: unknown text, unnamed, other messages, inside a transaction', () => {
    const cases: [ClientMessage[], 'I' | 'T'][] = [
      [[parse('s1', 'SELECT 2'), SYNC], 'I'],
      [[parse('', sql), SYNC], 'I'],
      [[parse('s1', sql), ClientMessage.of(Frontend.Query, buildQuery('SELECT 1'))], 'I'],
      [[parse('s1', sql), SYNC], 'T'],
      [[SYNC], 'I'],
    ];
    for (const [batch, tx] of cases) {
      const statements = new PreparedStatements(10);
      const out = new Outbox();
      expect(answerKnownParses(batch, tx, known, statements, out)).toBe(false);
      expect(statements.size).toBe(0);
      expect(out.isEmpty).toBe(true);
    }
  });

  it('leaves the limit error to the normal path', () => {
    const statements = new PreparedStatements(1);
    statements.define('other', 'SELECT 3', Buffer.alloc(0));
    expect(answerKnownParses([parse('s1', sql), SYNC], 'I', known, statements, new Outbox())).toBe(false);
  });
});
