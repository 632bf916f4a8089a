import { describe, expect, it } from 'vitest';
import { ReplyQueue } from '../../proxy/reply-queue.js';
import { Backend } from '../../proxy/wire/codes.js';

const B = Backend;

describe('ReplyQueue', () => {
  it('forwards a full extended-protocol cycle and ends empty', () => {
    const q = new ReplyQueue();
    q.push({ kind: 'parse', forward: true, serverName: 's1' });
    q.push({ kind: 'bind' });
    q.push({ kind: 'describe-portal' });
    q.push({ kind: 'execute' });
    q.push({ kind: 'sync' });
    const seq = [
      B.ParseComplete,
      B.BindComplete,
      B.RowDescription,
      B.DataRow,
      B.DataRow,
      B.CommandComplete,
      B.ReadyForQuery,
    ];
    const forwards = seq.map((t) => q.onServerMessage(t).forward);
    expect(forwards).toEqual([true, true, true, true, true, true, true]);
    expect(q.isEmpty).toBe(true);
  });

  it('swallows the ParseComplete of a statement the proxy prepared itself', () => {
    const q = new ReplyQueue();
    q.push({ kind: 'parse', forward: false, serverName: 's1' });
    q.push({ kind: 'bind' });
    q.push({ kind: 'execute' });
    q.push({ kind: 'sync' });
    expect(q.onServerMessage(B.ParseComplete).forward).toBe(false);
    expect(q.onServerMessage(B.BindComplete).forward).toBe(true);
  });

  it('drops the replies the server skips after an error, up to Sync', () => {
    const q = new ReplyQueue();
    q.push({ kind: 'bind' });
    q.push({ kind: 'execute' });
    q.push({ kind: 'close', forward: true });
    q.push({ kind: 'sync' });
    const err = q.onServerMessage(B.ErrorResponse);
    expect(err.forward).toBe(true);
    expect(q.length).toBe(1);
    expect(q.onServerMessage(B.ReadyForQuery).completed?.kind).toBe('sync');
    expect(q.isEmpty).toBe(true);
  });

  it('reports which server statement failed to prepare', () => {
    const q = new ReplyQueue();
    q.push({ kind: 'parse', forward: false, serverName: 'pgroute_abc' });
    q.push({ kind: 'bind' });
    q.push({ kind: 'sync' });
    expect(q.onServerMessage(B.ErrorResponse).failedParse).toBe('pgroute_abc');
  });

  it('emits fake replies in order once they reach the head', () => {
    const q = new ReplyQueue();
    const fake = Buffer.from('fake');
    q.push({ kind: 'bind' });
    q.push({ kind: 'fake', reply: fake });
    q.push({ kind: 'sync' });
    const out: Buffer[] = [];
    q.takeFakes(out);
    expect(out).toEqual([]);
    q.onServerMessage(B.BindComplete);
    q.takeFakes(out);
    expect(out).toEqual([fake]);
  });

  it('hides everything a skipped simple query returns, errors included, until its ReadyForQuery', () => {
    const q = new ReplyQueue();
    q.push({ kind: 'query', forward: false });
    q.push({ kind: 'query', forward: true });
    const first = [B.RowDescription, B.DataRow, B.CommandComplete, B.ErrorResponse, B.ReadyForQuery].map(
      (t) => q.onServerMessage(t).forward,
    );
    expect(first).toEqual([false, false, false, false, false]);
    const second = [B.CommandComplete, B.ReadyForQuery].map((t) => q.onServerMessage(t).forward);
    expect(second).toEqual([true, true]);
  });

  it('counts the ReadyForQuery messages still owed', () => {
    const q = new ReplyQueue();
    q.push({ kind: 'query', forward: true });
    q.push({ kind: 'bind' });
    q.push({ kind: 'sync' });
    expect(q.countReadyOwed()).toBe(2);
    expect(q.clear()).toBe(2);
    expect(q.isEmpty).toBe(true);
  });
});
