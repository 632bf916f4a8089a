// A session's memory of recent Parse messages: exact bytes, most recently matched first, bounded.
import { describe, expect, it } from 'vitest';
import { PARSE_MEMO_BYTES, PARSE_MEMO_MAX, ParseMemo } from '../../proxy/parse-memo.js';
import { buildParse } from '../../proxy/wire/frontend-messages.js';

const parse = (sql: string, name = ''): Buffer => buildParse(name, sql, Buffer.alloc(0));

describe('ParseMemo', () => {
  it('answers exactly the bytes it remembered, from a copy', () => {
    const memo = new ParseMemo<string>();
    const msg = parse('SELECT $1::int');
    memo.remember(msg, 'a', 1);
    expect(memo.match(parse('SELECT $1::int'), 1)).toBe('a');
    // Same length, other bytes; another statement name; another text.
    expect(memo.match(parse('SELECT $1::inT'), 1)).toBeNull();
    expect(memo.match(parse('SELECT $1::int', 's'), 1)).toBeNull();
    expect(memo.match(parse('SELECT 1'), 1)).toBeNull();
    // The read buffer the message came from is reused later: the memo kept its own bytes.
    msg.fill(0x20, 5);
    expect(memo.match(parse('SELECT $1::int'), 1)).toBe('a');
  });

  it('forgets everything classified in an older epoch', () => {
    const memo = new ParseMemo<string>();
    memo.remember(parse('SELECT 1'), 'a', 1);
    expect(memo.match(parse('SELECT 1'), 2)).toBeNull();
    memo.remember(parse('SELECT 2'), 'b', 2);
    expect(memo.size).toBe(1);
    expect(memo.match(parse('SELECT 2'), 2)).toBe('b');
  });

  it('keeps a cycle of statements and drops the least recently matched beyond its capacity', () => {
    const memo = new ParseMemo<number>();
    for (let i = 0; i < PARSE_MEMO_MAX; i++) memo.remember(parse(`SELECT ${i}`), i, 1);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < PARSE_MEMO_MAX; i++) expect(memo.match(parse(`SELECT ${i}`), 1)).toBe(i);
    }
    // 0 was matched least recently of all: one more statement pushes it out, and only it.
    memo.remember(parse('SELECT 99'), 99, 1);
    expect(memo.size).toBe(PARSE_MEMO_MAX);
    expect(memo.match(parse('SELECT 0'), 1)).toBeNull();
    for (let i = 1; i < PARSE_MEMO_MAX; i++) expect(memo.match(parse(`SELECT ${i}`), 1)).toBe(i);
    expect(memo.match(parse('SELECT 99'), 1)).toBe(99);
  });

  it('stays within its byte budget and never keeps an oversized message', () => {
    const memo = new ParseMemo<number>();
    const big = (n: number): Buffer => parse(`SELECT '${String(n).padEnd(1500, 'x')}'`);
    memo.remember(big(1), 1, 1);
    memo.remember(big(2), 2, 1);
    memo.remember(big(3), 3, 1); // three of ~1.5 KB exceed 4 KB: the oldest goes
    expect(memo.match(big(1), 1)).toBeNull();
    expect(memo.match(big(2), 1)).toBe(2);
    expect(memo.match(big(3), 1)).toBe(3);
    memo.remember(parse(`SELECT '${'y'.repeat(PARSE_MEMO_BYTES)}'`), 4, 1);
    expect(memo.match(parse(`SELECT '${'y'.repeat(PARSE_MEMO_BYTES)}'`), 1)).toBeNull();
    expect(memo.size).toBe(2);
  });
});
