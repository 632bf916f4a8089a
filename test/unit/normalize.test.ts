// normalizeSql: literal-free cache keys and leading hints, lexed the way PostgreSQL's scanner lexes.
import { describe, expect, it } from 'vitest';
import { normalizeSql } from '../../router/normalize.js';

const keyOf = (sql: string): string => normalizeSql(sql).key;

describe('literal replacement', () => {
  const CASES: [string, string][] = [
    [
      'SELECT abalance FROM pgbench_accounts WHERE aid = 12345;',
      'SELECT abalance FROM pgbench_accounts WHERE aid = ?i;',
    ],
    ["SELECT 'a', 'it''s', ''", 'SELECT ?s, ?s, ?s'],
    ["SELECT E'\\'', e'\\\\', E'a\\nb'", 'SELECT ?e, ?e, ?e'],
    ["SELECT E'\\\\' , 1", 'SELECT ?e , ?i'],
    ["SELECT B'0101', b'1', X'FF', x'0a'", 'SELECT ?b, ?b, ?x, ?x'],
    ["SELECT N'national'", 'SELECT N?s'],
    ["SELECT $$x$$, $tag$ it's $$ nested $tag$, $a_1$$a_1$", 'SELECT ?d, ?d, ?d'],
    ['SELECT 0, 7, 2147483647, 0x7FFFFFFF, 0o17, 0b101, 1_000', 'SELECT ?i, ?i, ?i, ?i, ?i, ?i, ?i'],
    [
      'SELECT 2147483648, 0x80000000, 1.5, .5, 1., 1e10, 1.5E-3, 1_000.000_1',
      'SELECT ?n, ?n, ?n, ?n, ?n, ?n, ?n, ?n',
    ],
    ['SELECT -1, +2', 'SELECT -?i, +?i'],
    ['SELECT a[1:2], b[1..2]', 'SELECT a[?i:?i], b[?i.?n]'],
    ["SELECT 'a'\n'b'", 'SELECT ?s'],
    ["SELECT 'a' -- comment\n  -- another\n 'b', 2", 'SELECT ?s, ?i'],
    ["SELECT E'a'\n'\\''", 'SELECT ?e'],
    ["SELECT 'a' 'b'", 'SELECT ?s ?s'],
    ["SELECT 'a' /* c */\n'b'", 'SELECT ?s ?s'],
    ["SELECT date'2024-01-01', int4 '5'", 'SELECT date?s, int4 ?s'],
  ];

  it.each(CASES)('normalizes %j to %j', (sql, key) => {
    expect(keyOf(sql)).toBe(key);
  });

  it('gives statements that differ only in literals one key', () => {
    const keys = new Set([
      keyOf("SELECT * FROM t WHERE a = 1 AND b = 'x' AND c = E'\\'' AND d = $$y$$"),
      keyOf("SELECT * FROM t WHERE a = 42 AND b = 'it''s' AND c = E'z' AND d = $q$ $$ $q$"),
      keyOf("SELECT  *\n\tFROM t WHERE a = 7 /* note */ AND b = '' AND c = E'\\\\' AND d = $$$$ -- end"),
    ]);
    expect([...keys]).toEqual(['SELECT * FROM t WHERE a = ?i AND b = ?s AND c = ?e AND d = ?d']);
  });

  it('keeps int4, wider numbers and strings apart because the grammar treats them differently', () => {
    const keys = ['FETCH 10 c', 'FETCH 3000000000 c', "FETCH '10' c"].map(keyOf);
    expect(new Set(keys).size).toBe(3);
  });
});

describe('what stays verbatim', () => {
  const CASES: [string, string][] = [
    ['select A from "T" where "a""b" = $1', 'select A from "T" where "a""b" = $1'],
    ['SELECT a$1, b$$c FROM t$x', 'SELECT a$1, b$$c FROM t$x'],
    ['SELECT café, "naïve" FROM t', 'SELECT café, "naïve" FROM t'],
    ['SELECT e, b, x, n, u FROM t', 'SELECT e, b, x, n, u FROM t'],
    ["SELECT xE'a'", 'SELECT xE?s'],
    ['SELECT 1abc, 0b12, 1__0, 1_, 0x, 1e, 1e+', 'SELECT 1abc, 0b12, 1__0, 1_, 0x, 1e, 1e+'],
    [
      "SELECT E'\\x41', E'\\101', E'\\u0041', E'\\U00000041'",
      "SELECT E'\\x41', E'\\101', E'\\u0041', E'\\U00000041'",
    ],
    [
      "SELECT U&'d\\0061t', U&'d!0061t' UESCAPE '!', U&\"d\\0061t\"",
      "SELECT U&'d\\0061t', U&'d!0061t' UESCAPE '!', U&\"d\\0061t\"",
    ],
    ["SELECT 'unterminated", "SELECT 'unterminated"],
    ['SELECT 1 /* unterminated', 'SELECT ?i /* unterminated'],
    ['SELECT $$unterminated', 'SELECT $$unterminated'],
    ['SELECT "unterminated', 'SELECT "unterminated'],
    ['SELECT 1; SELECT 2;', 'SELECT ?i; SELECT ?i;'],
  ];

  it.each(CASES)('keeps %j as %j', (sql, key) => {
    expect(keyOf(sql)).toBe(key);
  });

  it('keeps identifiers and keyword case, so differently spelled statements never share a key', () => {
    const keys = ['SELECT a FROM t', 'SELECT b FROM t', 'select a from t', 'SELECT "a" FROM t'].map(keyOf);
    expect(new Set(keys).size).toBe(4);
  });

  it('escapes a ? written in the SQL so it cannot spell a placeholder', () => {
    expect([keyOf("SELECT data ? 'k'"), keyOf('SELECT a ?i'), keyOf('SELECT a 1')]).toEqual([
      'SELECT data ?? ?s',
      'SELECT a ??i',
      'SELECT a ?i',
    ]);
  });

  it('does not let a failing E-string escape share a key with a valid one', () => {
    expect(keyOf("SELECT E'\\u12'")).not.toBe(keyOf("SELECT E'\\n'"));
  });
});

describe('comments and whitespace', () => {
  const CASES: [string, string][] = [
    ['  SELECT\t1 \n\n FROM   t  ', 'SELECT ?i FROM t'],
    ["SELECT 1 /* it's */ , 2", 'SELECT ?i , ?i'],
    ["SELECT 1 -- it's\n, 2", 'SELECT ?i , ?i'],
    ["SELECT '/* not a comment */', '-- nor this'", 'SELECT ?s, ?s'],
    ['SELECT /* a /* nested */ still comment */ 1', 'SELECT ?i'],
    ['SELECT /* "quoted */ 1', 'SELECT ?i'],
    ['SELECT/**/1', 'SELECT ?i'],
    ['SELECT a/*x*/b', 'SELECT a b'],
    ['SELECT 1--x', 'SELECT ?i'],
    ['SELECT 5-1, 5 - -1, 4/2, a*/**/b', 'SELECT ?i-?i, ?i - -?i, ?i/?i, a* b'],
    ['SELECT $$ -- not a comment $$, 1', 'SELECT ?d, ?i'],
    ['SELECT "a -- b" FROM "/* t */"', 'SELECT "a -- b" FROM "/* t */"'],
    ['-- only\n/* comments */', ''],
    ['SELECT 1\r\n\u000b\fFROM t', 'SELECT ?i FROM t'],
  ];

  it.each(CASES)('normalizes %j to %j', (sql, key) => {
    expect(keyOf(sql)).toBe(key);
  });
});

describe('hints', () => {
  it('returns leading block and line hints in order, outside the key', () => {
    expect(normalizeSql('/* pgroute:primary */ -- pgroute:standby\n SELECT 1')).toEqual({
      key: 'SELECT ?i',
      hints: ['primary', 'standby'],
    });
  });

  it('accepts spacing and upper case inside the hint comment', () => {
    expect(normalizeSql('/*   PGROUTE: Standby   */SELECT 1').hints).toEqual(['standby']);
  });

  it('reads the any hint', () => {
    expect(normalizeSql('--pgroute:any\nSELECT 1').hints).toEqual(['any']);
  });

  it('reads hints after other leading comments', () => {
    expect(normalizeSql('/* app */ /* pgroute:primary */ SELECT 1').hints).toEqual(['primary']);
  });

  it('ignores hints after the first token', () => {
    expect(normalizeSql('SELECT /* pgroute:primary */ 1 -- pgroute:standby').hints).toEqual([]);
  });

  it('ignores unknown hint values and lookalikes in strings', () => {
    expect(normalizeSql("/* pgroute:replica */ SELECT '/* pgroute:primary */'").hints).toEqual([]);
  });

  it('gives hinted and plain statements the same key', () => {
    expect(keyOf('/* pgroute:standby */ SELECT 1')).toBe(keyOf('SELECT 2'));
  });
});
