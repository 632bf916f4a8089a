// Named Binds: decoding their head, renaming their statement, and the per-connection statement LRU they drive.
import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { ClientMessage } from '../../proxy/client-message.js';
import { Outbox } from '../../proxy/outbox.js';
import { PreparedStatements } from '../../proxy/prepared-statements.js';
import { ReplyQueue } from '../../proxy/reply-queue.js';
import { SERVER_STATEMENT_CACHE, writeRequest } from '../../proxy/request-writer.js';
import type { ServerConnection } from '../../proxy/server/server-connection.js';
import type { StatementClassifier } from '../../proxy/session-types.js';
import { Frontend } from '../../proxy/wire/codes.js';
import { isUnnamedBind, readBindHead, rebuildBind } from '../../proxy/wire/frontend-messages.js';
import { MalformedMessageError } from '../../proxy/wire/writer.js';

function bind(portal: string, statement: string, values: (string | null)[] = []): Buffer {
  return serialize.bind({ portal, statement, values });
}

describe('readBindHead and rebuildBind', () => {
  it('renames the statement and keeps portal, formats and parameters byte for byte', () => {
    for (const portal of ['', 'p1', 'pörtal']) {
      for (const statement of ['', 's1', 'stätement']) {
        const values = ['1', null, 'abc', ''];
        const msg = bind(portal, statement, values);
        const head = readBindHead(msg);
        expect(head.statement).toBe(statement);
        const renamed = rebuildBind(msg, head, 'pgroute_0123abcd');
        expect(renamed.equals(bind(portal, 'pgroute_0123abcd', values))).toBe(true);
      }
    }
  });

  it('tells a Bind of the unnamed statement from the bytes, whatever the portal', () => {
    const of = (msg: Buffer) => ClientMessage.of(Frontend.Bind, msg);
    expect(isUnnamedBind(of(bind('', '', ['1'])))).toBe(true);
    expect(isUnnamedBind(of(bind('portal', '', ['1'])))).toBe(true);
    expect(isUnnamedBind(of(bind('', 's1', ['1'])))).toBe(false);
    expect(isUnnamedBind(of(bind('portal', 's1')))).toBe(false);
    expect(isUnnamedBind(of(Buffer.from([Frontend.Bind, 0, 0, 0, 6, 0x70, 0x71])))).toBe(false);
  });

  it('reads a Bind in the middle of a read without looking past its end', () => {
    // An unterminated portal name, followed in the same read by a message that would terminate it.
    const cut = Buffer.from([Frontend.Bind, 0, 0, 0, 6, 0x70, 0x71]);
    const chunk = Buffer.concat([bind('p', 's1'), cut, Buffer.from([0, 0]), bind('', '')]);
    const first = bind('p', 's1').length;
    expect(isUnnamedBind(new ClientMessage(Frontend.Bind, chunk, first, first + cut.length))).toBe(false);
    const last = chunk.length - bind('', '').length;
    expect(isUnnamedBind(new ClientMessage(Frontend.Bind, chunk, last, chunk.length))).toBe(true);
    expect(isUnnamedBind(new ClientMessage(Frontend.Bind, chunk, 0, first))).toBe(false);
  });

  it('rejects a Bind whose names are not terminated', () => {
    const msg = Buffer.from([Frontend.Bind, 0, 0, 0, 7, 0x70, 0x00, 0x73]);
    expect(() => readBindHead(msg)).toThrow(MalformedMessageError);
    expect(() => readBindHead(Buffer.from([Frontend.Bind, 0, 0, 0, 5, 0x70]))).toThrow(MalformedMessageError);
  });
});

describe('PreparedStatements.forBind', () => {
  it('sees a name defined or dropped after the same Bind was looked up', () => {
    const statements = new PreparedStatements(10);
    const msg = bind('', 's1', ['7']);
    // Classified before its Parse is written: the name is not defined yet.
    expect(statements.forBind(msg).stmt).toBeUndefined();
    statements.define('s1', 'SELECT $1::int', Buffer.alloc(0));
    expect(statements.forBind(msg).stmt?.query).toBe('SELECT $1::int');
    statements.delete('s1');
    expect(statements.forBind(msg).stmt).toBeUndefined();
    statements.define('s1', 'SELECT 2', Buffer.alloc(0));
    statements.clear();
    expect(statements.forBind(msg).stmt).toBeUndefined();
  });
});

describe('server-side statement LRU', () => {
  const classifier = {} as StatementClassifier;

  function fakeConnection(): ServerConnection {
    return {
      queue: new ReplyQueue(),
      prepared: new Map(),
      newestPrepared: null,
    } as unknown as ServerConnection;
  }

  it('evicts the least recently bound statement, also when one statement is bound over and over', () => {
    const statements = new PreparedStatements(SERVER_STATEMENT_CACHE + 10);
    const conn = fakeConnection();
    const out = new Outbox();
    const run = (name: string): void => {
      if (!statements.get(name)) statements.define(name, `SELECT '${name}'`, Buffer.alloc(0));
      const r = writeRequest(
        conn,
        statements,
        classifier,
        out,
        ClientMessage.of(Frontend.Bind, bind('', name)),
      );
      expect(r.kind).toBe('ok');
    };
    run('a');
    run('a');
    run('b');
    run('b');
    run('a');
    const serverName = (name: string): string => statements.get(name)!.serverName;
    expect([...conn.prepared.keys()]).toEqual([serverName('b'), serverName('a')]);
    // Fill the cache: the first name to go is b, the one used least recently.
    for (let i = 0; i < SERVER_STATEMENT_CACHE - 1; i++) run(`f${i}`);
    expect(conn.prepared.has(serverName('b'))).toBe(false);
    expect(conn.prepared.has(serverName('a'))).toBe(true);
    expect(conn.prepared.size).toBe(SERVER_STATEMENT_CACHE);
  });
});
