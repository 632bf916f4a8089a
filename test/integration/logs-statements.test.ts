// log.statements: the SQL text of each statement is logged, the values bound to its parameters never are.

import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy } from '../harness/proxy.js';

describe('statement logging', () => {
  it('logs SQL text for simple and extended statements and never the bound values', async () => {
    let captured = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        captured += chunk.toString();
        cb();
      },
    });
    const tp = await startTestProxy(
      sharedCluster(),
      { log: { level: 'info', statements: true } },
      { log: pino({ level: 'info' }, sink) },
    );
    const c = new pg.Client(tp.params({ mode: 'rw' }));
    await c.connect();
    try {
      await c.query('SELECT 41 + 1 AS simple_statement');
      await c.query('SELECT $1::text AS extended_statement', ['bound-value-never-logged']);
    } finally {
      await c.end();
      await tp.stop();
    }
    expect(captured).toContain('SELECT 41 + 1 AS simple_statement');
    expect(captured).toContain('SELECT $1::text AS extended_statement');
    expect(captured).not.toContain('bound-value-never-logged');
  });
});
