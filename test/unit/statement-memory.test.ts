// A session's statement memory in front of the real classifier: what it classifies, what it answers from memory.
import { serialize } from 'pg-protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClientMessage } from '../../proxy/client-message.js';
import { PreparedStatements } from '../../proxy/prepared-statements.js';
import type { StatementClassifier, StatementInfo } from '../../proxy/session-types.js';
import { StatementMemory } from '../../proxy/statement-memory.js';
import { Frontend } from '../../proxy/wire/codes.js';
import { buildParse, buildQuery } from '../../proxy/wire/frontend-messages.js';
import type { ClassifyMemo } from '../../router/classify.js';
import { Classifier } from '../../router/classify.js';

let real: Classifier;

beforeAll(async () => {
  real = await Classifier.create();
});

/** The real classifier, counting the texts it is asked about; `epoch` can be moved by the test. */
class CountingClassifier implements StatementClassifier {
  readonly asked: string[] = [];
  epoch = 0;
  classify(sql: string, memo?: ClassifyMemo): StatementInfo {
    this.asked.push(sql);
    return real.classify(sql, memo);
  }
  classifyPrepared(sql: string): StatementInfo {
    this.asked.push(sql);
    return real.classifyPrepared(sql);
  }
}

function setup() {
  const classifier = new CountingClassifier();
  const statements = new PreparedStatements(100);
  return { classifier, statements, memory: new StatementMemory({ classifier }, statements) };
}

const parse = (name: string, sql: string) =>
  ClientMessage.of(Frontend.Parse, buildParse(name, sql, Buffer.alloc(0)));
const bind = (statement: string) =>
  ClientMessage.of(Frontend.Bind, serialize.bind({ portal: '', statement, values: ['1'] }));
const query = (sql: string) => ClientMessage.of(Frontend.Query, buildQuery(sql));

describe('StatementMemory', () => {
  it('classifies a repeated Parse once, from its bytes', () => {
    const { classifier, memory } = setup();
    const sql = 'UPDATE accounts SET balance = balance + $1 WHERE id = $2';
    const first = memory.describe(parse('', sql), null);
    const again = memory.describe(parse('', sql), null);
    expect(first?.target).toBe('primary');
    expect(again).toBe(first);
    expect(classifier.asked).toEqual([sql]);
    // Other bytes (here a statement name) are another message.
    memory.describe(parse('s1', sql), null);
    expect(classifier.asked).toEqual([sql, sql]);
  });

  it('classifies again once the classifier moved to a new epoch', () => {
    const { classifier, memory } = setup();
    memory.describe(parse('', 'SELECT 1'), null);
    classifier.epoch++;
    memory.describe(parse('', 'SELECT 1'), null);
    expect(classifier.asked).toEqual(['SELECT 1', 'SELECT 1']);
  });

  it('routes a SET sent through the extended protocol as a pin with nothing to replay', () => {
    const { memory } = setup();
    // A parameter the server does not report (unlike timezone): simple-protocol SETs of it are replayed.
    const info = memory.describe(parse('', "SET work_mem = '64MB'"), null);
    expect(info?.pin).toBe('session-set');
    expect(info?.settings).toEqual([]);
  });

  it('describes a named Bind by the statement it runs, and leaves the unnamed one to its Parse', () => {
    const { statements, memory } = setup();
    statements.define('ins', 'INSERT INTO t VALUES ($1)', Buffer.alloc(0));
    statements.define('sel', 'SELECT * FROM t WHERE id = $1', Buffer.alloc(0));
    expect(memory.describe(bind('ins'), null)?.target).toBe('primary');
    expect(memory.describe(bind('sel'), null)?.target).toBe('any');
    expect(memory.describe(bind(''), null)).toBeNull();
    expect(memory.describe(bind('never-prepared'), null)).toBeNull();
  });

  it('answers a Query with other literals from its shape, without asking the classifier', () => {
    const { classifier, memory } = setup();
    const first = 'SELECT abalance FROM pgbench_accounts WHERE aid = 17';
    const second = 'SELECT abalance FROM pgbench_accounts WHERE aid = 42';
    memory.describe(query(first), first);
    // A fresh answer becomes a shape once the classifier's cache holds it for every text of this form.
    expect(memory.shapeOf(buildQuery(second))).toBeNull();
    const info = memory.describe(query(second), second);
    const third = 'SELECT abalance FROM pgbench_accounts WHERE aid = 90210';
    expect(memory.shapeOf(buildQuery(third))).toBe(info);
    expect(memory.shapeOf(buildQuery('SELECT bbalance FROM pgbench_branches WHERE bid = 1'))).toBeNull();
    expect(classifier.asked).toEqual([first, second]);
    classifier.epoch++;
    expect(memory.shapeOf(buildQuery(third))).toBeNull();
  });

  it('never remembers the shape of a pgroute.* command (those are answered by the proxy)', () => {
    const { memory } = setup();
    const sql = 'SET pgroute.target = primary';
    memory.describe(query(sql), sql);
    memory.describe(query(sql), sql);
    expect(memory.shapeOf(buildQuery(sql))).toBeNull();
  });

  it('leaves messages that run no statement undescribed', () => {
    const { classifier, memory } = setup();
    for (const type of [Frontend.Sync, Frontend.Execute, Frontend.Describe]) {
      expect(memory.describe(ClientMessage.of(type, Buffer.from([type, 0, 0, 0, 4])), null)).toBeNull();
    }
    expect(classifier.asked).toEqual([]);
  });
});
