// ClientMessage: a client message read as a range of its chunk, without a Buffer view until one is asked for.
import { describe, expect, it } from 'vitest';
import { ClientMessage } from '../../proxy/client-message.js';
import { Frontend } from '../../proxy/wire/codes.js';
import { buildParse, buildQuery } from '../../proxy/wire/frontend-messages.js';

describe('ClientMessage', () => {
  const parse = buildParse('', 'SELECT 1', Buffer.alloc(0));
  const query = buildQuery('SELECT 2');
  // Two messages back to back in one read, as a pipelining driver sends them.
  const chunk = Buffer.concat([query, parse]);
  const inChunk = new ClientMessage(Frontend.Parse, chunk, query.length, chunk.length);

  it('is the bytes of its range, with the same view every time', () => {
    expect(inChunk.length).toBe(parse.length);
    expect(inChunk.msg.equals(parse)).toBe(true);
    expect(inChunk.msg).toBe(inChunk.msg);
    const whole = ClientMessage.of(Frontend.Query, query);
    expect(whole.msg).toBe(query);
  });

  it('reads bytes and finds NULs only inside its range', () => {
    const first = new ClientMessage(Frontend.Query, chunk, 0, query.length);
    expect(first.byteAt(0)).toBe(Frontend.Query);
    expect(first.byteAt(query.length - 1)).toBe(0);
    // The next message's type byte is outside the range.
    expect(first.byteAt(query.length)).toBeUndefined();
    expect(inChunk.byteAt(0)).toBe(Frontend.Parse);
    // The unnamed statement: its name's NUL is the first byte of the body.
    expect(inChunk.nulFrom(5)).toBe(5);
    expect(inChunk.nulFrom(6)).toBe(6 + 'SELECT 1'.length);
    // From the last byte (the parameter count's low byte, 0) to the end.
    expect(inChunk.nulFrom(parse.length - 1)).toBe(parse.length - 1);
    const noNul = new ClientMessage(Frontend.Query, Buffer.from('Qxxxxyyyy\0'), 0, 9);
    expect(noNul.nulFrom(5)).toBe(-1);
  });

  it('compares with a Buffer, viewed or not', () => {
    const fresh = new ClientMessage(Frontend.Parse, chunk, query.length, chunk.length);
    expect(fresh.equals(parse)).toBe(true);
    expect(fresh.equals(buildParse('', 'SELECT 3', Buffer.alloc(0)))).toBe(false);
    expect(fresh.equals(parse.subarray(0, parse.length - 1))).toBe(false);
    void fresh.msg;
    expect(fresh.equals(parse)).toBe(true);
    expect(fresh.equals(query)).toBe(false);
  });
});
