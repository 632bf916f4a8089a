import { describe, expect, it } from 'vitest';
import { buildQuery } from '../../proxy/wire/frontend-messages.js';
import { normalizeSql } from '../../router/normalize.js';
import { QUERY_SHAPE_LIMIT, QUERY_SHAPES_MAX, QueryShape, QueryShapes } from '../../router/query-shape.js';

/** A shape that remembers `sql` the way a session does, answering with the text's normalised key. */
function shapeOf(sql: string, epoch = 0): QueryShape<string> {
  const shape = new QueryShape<string>();
  const spans: number[] = [];
  const { key } = normalizeSql(sql, spans);
  shape.remember(buildQuery(sql), sql, spans, key, epoch);
  return shape;
}

const matches = (prev: string, next: string): boolean => shapeOf(prev).match(buildQuery(next), 0) !== null;

describe('QueryShape', () => {
  it('matches a repeat with other integer and string literals', () => {
    const prev = 'SELECT abalance FROM pgbench_accounts WHERE aid = 952075;';
    expect(matches(prev, 'SELECT abalance FROM pgbench_accounts WHERE aid = 7;')).toBe(true);
    expect(matches(prev, 'SELECT abalance FROM pgbench_accounts WHERE aid = 123456789;')).toBe(true);
    expect(
      matches("SELECT * FROM t WHERE a = 'x' AND b = 1", "SELECT * FROM t WHERE a = 'it''s é' AND b = 22"),
    ).toBe(true);
    expect(matches("SELECT N'ab', 1", "SELECT N'', 2")).toBe(true);
    expect(matches('SELECT 1', 'SELECT 1')).toBe(true);
    expect(matches('BEGIN', 'BEGIN')).toBe(true);
  });

  it('answers with what was remembered', () => {
    const shape = new QueryShape<{ target: string }>();
    const answer = { target: 'any' };
    const sql = 'SELECT 1';
    const spans: number[] = [];
    normalizeSql(sql, spans);
    shape.remember(buildQuery(sql), sql, spans, answer, 3);
    expect(shape.match(buildQuery('SELECT 2'), 3)).toBe(answer);
  });

  it('does not match other fixed text, whitespace or comments', () => {
    const prev = 'SELECT abalance FROM pgbench_accounts WHERE aid = 1;';
    expect(matches(prev, 'SELECT abalance FROM pgbench_accounts WHERE bid = 1;')).toBe(false);
    expect(matches(prev, 'SELECT abalance FROM pgbench_accounts WHERE aid =  1;')).toBe(false);
    expect(matches(prev, 'SELECT abalance FROM pgbench_accounts WHERE aid = 1; ')).toBe(false);
    expect(matches(prev, 'SELECT abalance FROM pgbench_accounts WHERE aid = 1')).toBe(false);
    expect(matches(prev, '/* x */ SELECT abalance FROM pgbench_accounts WHERE aid = 1;')).toBe(false);
  });

  it('does not match a literal of another class or one the lexer reads differently', () => {
    const prev = 'SELECT * FROM t WHERE a = 5 AND b = 1';
    for (const next of [
      'SELECT * FROM t WHERE a = 5.5 AND b = 1', // numeric, not integer
      'SELECT * FROM t WHERE a = 1e5 AND b = 1',
      'SELECT * FROM t WHERE a = 1234567890 AND b = 1', // may not fit int4
      'SELECT * FROM t WHERE a = 1_000 AND b = 1',
      'SELECT * FROM t WHERE a = 0x1F AND b = 1',
      'SELECT * FROM t WHERE a = 5abc AND b = 1', // trailing junk: a lexer error
      "SELECT * FROM t WHERE a = '5' AND b = 1",
      'SELECT * FROM t WHERE a = b AND b = 1',
      'SELECT * FROM t WHERE a =  AND b = 1',
    ]) {
      expect(matches(prev, next), next).toBe(false);
    }
    const str = "SELECT * FROM t WHERE a = 'x'";
    expect(matches(str, "SELECT * FROM t WHERE a = E'x'")).toBe(false);
    expect(matches(str, 'SELECT * FROM t WHERE a = 1')).toBe(false);
    expect(matches(str, "SELECT * FROM t WHERE a = 'unterminated")).toBe(false);
    expect(matches(str, "SELECT * FROM t WHERE a = 'x'\n'continued'")).toBe(false);
  });

  it('remembers nothing for other literal kinds, non-ASCII or oversized text', () => {
    for (const sql of [
      'SELECT 1.5',
      "SELECT E'a\\nb'",
      "SELECT X'1F'",
      'SELECT $$body$$',
      'SELECT 3000000000',
      "SELECT 'é', 1",
      `SELECT '${'x'.repeat(QUERY_SHAPE_LIMIT)}'`,
    ]) {
      expect(shapeOf(sql).match(buildQuery(sql), 0), sql).toBeNull();
    }
  });

  it('answers only for the classifier epoch it remembered, and not after clear', () => {
    const shape = shapeOf('SELECT 1', 4);
    expect(shape.match(buildQuery('SELECT 2'), 4)).not.toBeNull();
    expect(shape.match(buildQuery('SELECT 2'), 5)).toBeNull();
    shape.clear();
    expect(shape.match(buildQuery('SELECT 2'), 4)).toBeNull();
  });

  it('rejects a message without its terminating NUL or with a NUL inside a literal', () => {
    const shape = shapeOf("SELECT 'a'");
    const msg = buildQuery("SELECT 'b'");
    const unterminated = Buffer.from(msg);
    unterminated[unterminated.length - 1] = 0x20;
    expect(shape.match(unterminated, 0)).toBeNull();
    const withNul = buildQuery("SELECT 'xy'");
    withNul[withNul.length - 3] = 0;
    expect(shape.match(withNul, 0)).toBeNull();
  });

  // Soundness: whenever a text matches, normalizeSql gives it the remembered key and hints. Texts are
  // mutated at random around and inside their literals, including the bytes the lexer looks ahead at.
  it('only ever matches texts with the same normalised key and hints', () => {
    const bases = [
      'SELECT abalance FROM pgbench_accounts WHERE aid = 12345;',
      "/* pgroute:standby */ SELECT * FROM t WHERE name = 'bob' AND id = 42",
      "UPDATE t SET a = 'x', b = 7 WHERE c = 99 -- trailing\n",
      "SELECT 1, '2', 3 FROM t WHERE x IN (4, 5, 6) AND y = N'z'",
      "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
      "SELECT 'a'\n\n 'b' FROM t WHERE x = 1",
    ];
    const alphabet = ["'", '0', '9', '1', '.', 'e', '_', 'x', ' ', '\n', '-', '$', 'é', "''", '/*', '*/'];
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let matched = 0;
    let checked = 0;
    for (const base of bases) {
      const shape = shapeOf(base);
      const spans: number[] = [];
      const expected = normalizeSql(base, spans);
      for (let round = 0; round < 400; round++) {
        let text = base;
        const edits = 1 + random(3);
        for (let e = 0; e < edits; e++) {
          // Half the edits land inside or at the edge of a literal (offsets of the base text).
          const span = 3 * random(spans.length / 3);
          const at =
            random(2) === 0
              ? Math.min(text.length, spans[span]! + random(spans[span + 1]! - spans[span]! + 1))
              : random(text.length + 1);
          const cut = random(3);
          text = text.slice(0, at) + alphabet[random(alphabet.length)] + text.slice(at + cut);
        }
        checked++;
        if (shape.match(buildQuery(text), 0) === null) continue;
        matched++;
        const got = normalizeSql(text);
        expect(got.key, text).toBe(expected.key);
        expect(got.hints, text).toEqual(expected.hints);
      }
    }
    // The mutations must exercise the accepting path too, or this test would prove nothing.
    expect(matched).toBeGreaterThan(checked / 20);
  });
});

/** The statements of pgbench's TPC-B-like script, with the literals of one transaction. */
function tpcb(aid: number, tid: number, bid: number, delta: number): string[] {
  return [
    'BEGIN;',
    `UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid};`,
    `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`,
    `UPDATE pgbench_tellers SET tbalance = tbalance + ${delta} WHERE tid = ${tid};`,
    `UPDATE pgbench_branches SET bbalance = bbalance + ${delta} WHERE bid = ${bid};`,
    `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${tid}, ${bid}, ${aid}, ${delta}, CURRENT_TIMESTAMP);`,
    'END;',
  ];
}

function rememberIn(shapes: QueryShapes<string>, sql: string, epoch = 0): void {
  const spans: number[] = [];
  const { key } = normalizeSql(sql, spans);
  shapes.remember(buildQuery(sql), sql, spans, key, epoch);
}

describe('QueryShapes', () => {
  it('answers every statement of a cycle, each with its own answer', () => {
    const shapes = new QueryShapes<string>();
    // pgbench's delta is negative half the time: a minus sign is fixed text, so a second shape.
    for (const sql of [...tpcb(1, 2, 3, -40), ...tpcb(1, 2, 3, 40)]) {
      if (shapes.match(buildQuery(sql), 0) === null) rememberIn(shapes, sql);
    }
    expect(shapes.size).toBe(11);
    for (let round = 0; round < 3; round++) {
      for (const sql of [...tpcb(9000 + round, 7, 1, 4321), ...tpcb(5, 6, 7, -1)]) {
        expect(shapes.match(buildQuery(sql), 0)).toBe(normalizeSql(sql).key);
      }
    }
    expect(shapes.match(buildQuery('SELECT 1'), 0)).toBeNull();
  });

  it('keeps the most recently matched shapes, at most QUERY_SHAPES_MAX', () => {
    const shapes = new QueryShapes<string>();
    const text = (i: number): string => `SELECT c${i} FROM t WHERE id = 1`;
    for (let i = 0; i < QUERY_SHAPES_MAX; i++) rememberIn(shapes, text(i));
    // Used again: no longer the least recent one.
    expect(shapes.match(buildQuery(text(0).replace('1', '2')), 0)).not.toBeNull();
    rememberIn(shapes, text(100));
    expect(shapes.size).toBe(QUERY_SHAPES_MAX);
    expect(shapes.match(buildQuery(text(0)), 0)).not.toBeNull();
    expect(shapes.match(buildQuery(text(1)), 0)).toBeNull();
    expect(shapes.match(buildQuery(text(100)), 0)).not.toBeNull();
  });

  it('keeps their texts within QUERY_SHAPE_LIMIT bytes together', () => {
    const shapes = new QueryShapes<string>();
    rememberIn(shapes, 'SELECT a FROM t WHERE id = 1');
    rememberIn(shapes, 'SELECT b FROM t WHERE id = 1');
    // 4058 bytes: room for one of the 28-byte texts beside it, not for both.
    const long = `SELECT '${'x'.repeat(QUERY_SHAPE_LIMIT - 67)}' FROM t WHERE id = 1`;
    rememberIn(shapes, long);
    // The long text fits only with one of the others dropped: the older one.
    expect(shapes.match(buildQuery(long), 0)).not.toBeNull();
    expect(shapes.match(buildQuery('SELECT b FROM t WHERE id = 2'), 0)).not.toBeNull();
    expect(shapes.match(buildQuery('SELECT a FROM t WHERE id = 2'), 0)).toBeNull();
  });

  it('drops nothing for a text it cannot remember', () => {
    const shapes = new QueryShapes<string>();
    for (let i = 0; i < QUERY_SHAPES_MAX; i++) rememberIn(shapes, `SELECT c${i} FROM t`);
    rememberIn(shapes, "SELECT 'é' FROM t");
    expect(shapes.size).toBe(QUERY_SHAPES_MAX);
    expect(shapes.match(buildQuery("SELECT 'é' FROM t"), 0)).toBeNull();
  });

  it('answers only for the classifier epoch each shape was remembered in', () => {
    const shapes = new QueryShapes<string>();
    rememberIn(shapes, 'SELECT 1', 4);
    expect(shapes.match(buildQuery('SELECT 2'), 4)).not.toBeNull();
    expect(shapes.match(buildQuery('SELECT 2'), 5)).toBeNull();
  });
});
