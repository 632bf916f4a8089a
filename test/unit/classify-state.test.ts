// Classifier details beyond the routing table: setting values, transaction effects, function lists, cache.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Classification,
  Classifier,
  type ClassifyMemo,
  type SettingChange,
} from '../../router/classify.js';

let classifier: Classifier;

beforeAll(async () => {
  classifier = await Classifier.create({});
});

const settingsOf = (sql: string): SettingChange[] => classifier.classify(sql).settings;

describe('setting values', () => {
  // Each value is the text PostgreSQL stores for the SET (flatten_set_variable_args), so replaying it with
  // set_config(name, value, false) restores the same setting.
  const CASES: [string, SettingChange[]][] = [
    ['SET search_path TO a, "B"', [{ name: 'search_path', value: 'a, "B"', isLocal: false }]],
    ["SET search_path TO 'a', 'B'", [{ name: 'search_path', value: 'a, "B"', isLocal: false }]],
    [
      'SET search_path TO "$user", public',
      [{ name: 'search_path', value: '"$user", public', isLocal: false }],
    ],
    [
      'SET search_path TO "user", "we""ird"',
      [{ name: 'search_path', value: '"user", "we""ird"', isLocal: false }],
    ],
    ["SET search_path = 'a,b'", [{ name: 'search_path', value: '"a,b"', isLocal: false }]],
    ["SET SCHEMA 'Foo'", [{ name: 'search_path', value: '"Foo"', isLocal: false }]],
    ['SET search_path TO DEFAULT', [{ name: 'search_path', value: null, isLocal: false }]],
    ["SET statement_timeout = '5s'", [{ name: 'statement_timeout', value: '5s', isLocal: false }]],
    ['SET statement_timeout TO 1000', [{ name: 'statement_timeout', value: '1000', isLocal: false }]],
    ['SET extra_float_digits = -3', [{ name: 'extra_float_digits', value: '-3', isLocal: false }]],
    ['SET random_page_cost = 1.5', [{ name: 'random_page_cost', value: '1.5', isLocal: false }]],
    ['SET enable_seqscan TO off', [{ name: 'enable_seqscan', value: 'off', isLocal: false }]],
    ['SET DateStyle = iso, mdy', [{ name: 'datestyle', value: 'iso, mdy', isLocal: false }]],
    ["SET TIME ZONE 'Europe/Paris'", [{ name: 'timezone', value: 'Europe/Paris', isLocal: false }]],
    ['SET TIME ZONE LOCAL', [{ name: 'timezone', value: null, isLocal: false }]],
    ["SET NAMES 'UTF8'", [{ name: 'client_encoding', value: 'UTF8', isLocal: false }]],
    ["SET application_name = 'it''s'", [{ name: 'application_name', value: "it's", isLocal: false }]],
    ["SET application_name = E'a\\tb'", [{ name: 'application_name', value: 'a\tb', isLocal: false }]],
    ['SET myapp.name TO "MixedCase"', [{ name: 'myapp.name', value: 'MixedCase', isLocal: false }]],
    ["SET myapp.q = $$dollar 'q'$$", [{ name: 'myapp.q', value: "dollar 'q'", isLocal: false }]],
    ['SET LOCAL work_mem = 65536', [{ name: 'work_mem', value: '65536', isLocal: true }]],
    ['RESET work_mem', [{ name: 'work_mem', value: null, isLocal: false }]],
    ['RESET ALL', [{ name: 'all', value: null, isLocal: false }]],
    ['SET ROLE r', [{ name: 'role', value: 'r', isLocal: false }]],
    ['SET SESSION AUTHORIZATION u', [{ name: 'session_authorization', value: 'u', isLocal: false }]],
    ['SET pgroute.target TO primary', [{ name: 'pgroute.target', value: 'primary', isLocal: false }]],
    ["SET pgroute.target = 'standby'", [{ name: 'pgroute.target', value: 'standby', isLocal: false }]],
    ['SET TRANSACTION READ ONLY', [{ name: 'transaction_read_only', value: 'on', isLocal: true }]],
    [
      'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
      [{ name: 'transaction_isolation', value: 'repeatable read', isLocal: true }],
    ],
    [
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
      [{ name: 'default_transaction_read_only', value: 'on', isLocal: false }],
    ],
    [
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
      [{ name: 'default_transaction_read_only', value: 'off', isLocal: false }],
    ],
    [
      "SELECT set_config('Search_Path', 'a, \"B\"', false)",
      [{ name: 'search_path', value: 'a, "B"', isLocal: false }],
    ],
    ["SELECT set_config('myapp.x', NULL, 't')", [{ name: 'myapp.x', value: null, isLocal: true }]],
    [
      "SET a.x = 1; SELECT set_config('a.y', '2', false)",
      [
        { name: 'a.x', value: '1', isLocal: false },
        { name: 'a.y', value: '2', isLocal: false },
      ],
    ],
  ];

  it.each(CASES)('reports %j as %j', (sql, expected) => {
    expect(settingsOf(sql)).toEqual(expected);
  });

  it('reports the value of each literal variant, not the one cached first', () => {
    expect(settingsOf("SET statement_timeout = '1s'")[0]?.value).toBe('1s');
    expect(settingsOf("SET statement_timeout = '2s'")[0]?.value).toBe('2s');
    expect(settingsOf("SELECT set_config('a.b', '1', false)")[0]?.value).toBe('1');
    expect(settingsOf("SELECT set_config('a.b', '2', false)")[0]?.value).toBe('2');
  });

  it('pins a session that sets an unreported parameter to a value it cannot replay', () => {
    const result = classifier.classify("SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE");
    expect({ pin: result.pin, settings: result.settings }).toEqual({ pin: 'session-set', settings: [] });
  });

  it('routes a literal-dependent EXPLAIN option by its own value', () => {
    expect(classifier.classify("EXPLAIN (ANALYZE 'on') DELETE FROM t").target).toBe('primary');
    expect(classifier.classify("EXPLAIN (ANALYZE 'off') DELETE FROM t").target).toBe('any');
  });
});

describe('transaction effects', () => {
  it('lists one effect per statement and reports the last one as tx', () => {
    const result = classifier.classify('BEGIN READ ONLY; SELECT 1; SAVEPOINT a; ROLLBACK TO a; COMMIT');
    expect({ tx: result.tx, txEffects: result.txEffects }).toEqual({
      tx: { kind: 'commit' },
      txEffects: [
        { kind: 'begin', readOnly: true, isolation: null },
        null,
        { kind: 'savepoint' },
        { kind: 'rollback-to' },
        { kind: 'commit' },
      ],
    });
  });

  it('reports the begin of a block that is left open', () => {
    expect(classifier.classify('START TRANSACTION READ WRITE; UPDATE t SET a = 1').tx).toEqual({
      kind: 'begin',
      readOnly: false,
      isolation: null,
    });
  });

  it('reports no effect for statements outside transaction control', () => {
    const result = classifier.classify('SELECT 1; SELECT 2');
    expect({ tx: result.tx, txEffects: result.txEffects }).toEqual({ tx: null, txEffects: [null, null] });
  });

  it('marks a block unsafe for a read-only standby as soon as one statement is', () => {
    expect(classifier.classify('SELECT 1; SELECT 2').isReadOnlyBlockSafe).toBe(true);
    expect(classifier.classify('SELECT 1; INSERT INTO t VALUES (1)').isReadOnlyBlockSafe).toBe(false);
  });
});

describe('function allow- and deny-lists', () => {
  it('routes a deny-listed user function to the primary by bare name', async () => {
    const c = await Classifier.create({ writeFunctions: ['Audit_Touch'] });
    expect(c.classify('SELECT app.audit_touch(1)').reason).toBe('write-function');
  });

  it('matches a schema-qualified deny-list entry only with that schema', async () => {
    const c = await Classifier.create({ writeFunctions: ['app.touch'] });
    expect([c.classify('SELECT app.touch()').target, c.classify('SELECT other.touch()').target]).toEqual([
      'primary',
      'any',
    ]);
  });

  it('lets the allow-list override a volatile lookup', async () => {
    const c = await Classifier.create({ readFunctions: ['app.report'], isWriteFunction: () => true });
    expect([c.classify('SELECT app.report()').target, c.classify('SELECT app.other()').target]).toEqual([
      'any',
      'primary',
    ]);
  });

  it('lets the allow-list override the built-in deny-list', async () => {
    const c = await Classifier.create({ readFunctions: ['currval'] });
    expect(c.classify("SELECT currval('s')").target).toBe('any');
  });
});

describe('the injected volatility lookup', () => {
  it('is asked with the name as written, qualified or not', async () => {
    const asked: string[] = [];
    const c = await Classifier.create({
      isWriteFunction: (name) => {
        asked.push(name);
        return undefined;
      },
    });
    c.classify('SELECT f(1), app.g(2), "Mixed"(3) FROM t WHERE h(a) > 0');
    expect(asked.sort()).toEqual(['Mixed', 'app.g', 'f', 'h']);
  });

  it('routes a function it reports volatile to the primary, even deep inside a query', async () => {
    const c = await Classifier.create({
      isWriteFunction: (name) => (name === 'app.bump' ? true : undefined),
    });
    const result = c.classify('SELECT * FROM t WHERE a IN (SELECT x FROM u ORDER BY app.bump(x))');
    expect({ target: result.target, reason: result.reason }).toEqual({
      target: 'primary',
      reason: 'write-function',
    });
  });

  it('treats unknown and non-volatile answers as reads', async () => {
    const c = await Classifier.create({ isWriteFunction: (name) => (name === 'known' ? false : undefined) });
    expect([c.classify('SELECT known()').target, c.classify('SELECT unknown()').target]).toEqual([
      'any',
      'any',
    ]);
  });
});

describe('the classification cache', () => {
  const newMemo = (): ClassifyMemo => ({ key: null, base: null, epoch: -1, spans: [], isShared: false });

  it("answers a caller's repeated statement from its memo, as the cache would", async () => {
    const c = await Classifier.create({});
    const memo = newMemo();
    const first = c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 1', memo);
    const cached = c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 2', memo);
    expect(memo.base).toBe(cached);
    const memoised = c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 3', memo);
    expect(memoised).toBe(cached);
    expect(memoised).toEqual(first);
    expect({ hits: c.cacheHits, misses: c.cacheMisses }).toEqual({ hits: 2, misses: 1 });
    // Another statement replaces the memo; hints still apply on top of a memoised answer.
    expect(c.classify('SELECT 1', memo).target).toBe('any');
    expect(c.classify('/* pgroute:primary */ SELECT 1', memo).target).toBe('primary');
  });

  it('forgets the memo once the function catalog changed (clearCache)', async () => {
    let isVolatile = false;
    const c = await Classifier.create({
      isWriteFunction: (name) => (name === 'touch' ? isVolatile : undefined),
    });
    const memo = newMemo();
    c.classify('SELECT touch(1)', memo);
    expect(c.classify('SELECT touch(2)', memo).target).toBe('any');
    isVolatile = true;
    c.clearCache();
    expect(c.classify('SELECT touch(3)', memo).target).toBe('primary');
  });

  it('never memoises an answer that depends on the literals', async () => {
    const c = await Classifier.create({});
    const memo = newMemo();
    for (const value of ['on', 'on', 'off']) c.classify(`EXPLAIN (ANALYZE '${value}') DELETE FROM t`, memo);
    expect(memo.key).toBeNull();
    expect(c.classify("EXPLAIN (ANALYZE 'off') DELETE FROM t", memo).target).toBe('any');
    expect(c.classify("EXPLAIN (ANALYZE 'on') DELETE FROM t", memo).target).toBe('primary');
  });

  it('answers a literal-only variant from the cache', async () => {
    const c = await Classifier.create({});
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 12345;');
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 777;');
    expect({ hits: c.cacheHits, misses: c.cacheMisses }).toEqual({ hits: 1, misses: 1 });
  });

  it('parses again when an identifier differs', async () => {
    const c = await Classifier.create({});
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 1');
    c.classify('SELECT bbalance FROM pgbench_branches WHERE bid = 1');
    expect({ hits: c.cacheHits, misses: c.cacheMisses }).toEqual({ hits: 0, misses: 2 });
  });

  it('shares an entry between a statement with a hint and without one', async () => {
    const c = await Classifier.create({});
    const plain = c.classify('SELECT 1');
    const hinted = c.classify('/* pgroute:primary */ SELECT 2');
    expect({ plain: plain.target, hinted: hinted.target, hits: c.cacheHits }).toEqual({
      plain: 'any',
      hinted: 'primary',
      hits: 1,
    });
  });

  it('never caches a parse error', async () => {
    const c = await Classifier.create({});
    c.classify('SELECT 1abc');
    c.classify('SELECT 1abc');
    expect({ hits: c.cacheHits, misses: c.cacheMisses }).toEqual({ hits: 0, misses: 2 });
  });

  it('forgets the least recently used entry beyond its size', async () => {
    const c = await Classifier.create({ cacheSize: 2 });
    for (const sql of ['SELECT a FROM t', 'SELECT b FROM t', 'SELECT c FROM t', 'SELECT a FROM t'])
      c.classify(sql);
    expect({ hits: c.cacheHits, misses: c.cacheMisses }).toEqual({ hits: 0, misses: 4 });
  });

  it('parses again after clearCache', async () => {
    const c = await Classifier.create({});
    c.classify('SELECT 1');
    c.clearCache();
    c.classify('SELECT 1');
    expect(c.cacheMisses).toBe(2);
  });

  it('answers a repeated prepared text verbatim, with the same classification as classify', async () => {
    const c = await Classifier.create({});
    const sql = '/* pgroute:primary */ SELECT abalance FROM pgbench_accounts WHERE aid = $1';
    const first = c.classifyPrepared(sql);
    const misses = c.cacheMisses;
    const again = c.classifyPrepared(sql);
    expect({ same: again === first, misses: c.cacheMisses - misses, target: again.target }).toEqual({
      same: true,
      misses: 0,
      target: c.classify(sql).target,
    });
  });

  it('classifies a prepared text again after clearCache, with the function rules of that moment', async () => {
    let isVolatile = false;
    const c = await Classifier.create({ isWriteFunction: (name) => (name === 'f' ? isVolatile : undefined) });
    expect(c.classifyPrepared('SELECT f($1)').target).toBe('any');
    isVolatile = true;
    expect(c.classifyPrepared('SELECT f($1)').target).toBe('any');
    c.clearCache();
    expect(c.classifyPrepared('SELECT f($1)').target).toBe('primary');
  });

  it('never remembers a prepared text that fails to parse', async () => {
    const c = await Classifier.create({});
    c.classifyPrepared('SELECT 1abc');
    c.classifyPrepared('SELECT 1abc');
    expect(c.cacheMisses).toBe(2);
  });

  it('hands out frozen classifications so one caller cannot change another one', () => {
    const result: Classification = classifier.classify('SET search_path TO a');
    expect([
      Object.isFrozen(result),
      Object.isFrozen(result.settings),
      Object.isFrozen(result.settings[0]),
    ]).toEqual([true, true, true]);
  });

  // Literal variants of these statements share a cache key; each must classify as it would uncached.
  const VARIANTS: [string, string][] = [
    ['SELECT * FROM t WHERE a = 1 LIMIT 10', 'SELECT * FROM t WHERE a = 99 LIMIT 3000000000'],
    ["SELECT set_config('a.b', 'x', false)", "SELECT set_config('transaction_read_only', 'off', true)"],
    ['SET transaction_read_only = on', 'SET transaction_read_only = off'],
    ["SET ROLE 'none'", "SET ROLE 'admin'"],
    ["EXPLAIN (ANALYZE 'false') UPDATE t SET a = 1", "EXPLAIN (ANALYZE 'true') UPDATE t SET a = 1"],
    ['FETCH 10 c', 'FETCH 2147483648 c'],
  ];

  it.each(VARIANTS)('classifies %j and %j each as a fresh classifier would', async (first, second) => {
    const cached = await Classifier.create({});
    cached.classify(first);
    const fresh = await Classifier.create({});
    expect(cached.classify(second)).toEqual(fresh.classify(second));
  });
});
