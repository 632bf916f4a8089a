// Integration: FunctionCatalog loads volatile user functions from the shared cluster's primary and feeds the classifier.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classifier } from '../../router/classify.js';
import { FunctionCatalog, type FunctionCatalogLoadError } from '../../router/function-catalog.js';
import { sharedCluster } from '../harness/cluster.js';

const cluster = sharedCluster();
const primary = cluster.descriptor.instances[0]!.name;
const schema = `fncat_${process.pid}_${Date.now()}`;
const query = (sql: string) => cluster.query(primary, sql);

beforeAll(async () => {
  await query(`CREATE SCHEMA ${schema}`);
  await query(`CREATE FUNCTION ${schema}.fc_bump() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
  await query(`CREATE FUNCTION ${schema}.fc_peek() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1'`);
  await query(`CREATE FUNCTION ${schema}.fc_pure() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'`);
  await query(`CREATE FUNCTION ${schema}."Fc_Mixed"() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'`);
});

afterAll(async () => {
  await query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
});

describe('FunctionCatalog on a real primary', () => {
  it('knows nothing before its first load', () => {
    const catalog = new FunctionCatalog({ query });
    expect([catalog.isLoaded, catalog.isWriteFunction('fc_bump')]).toEqual([false, undefined]);
  });

  it('reports a function created without a volatility marker as a write, by bare and qualified name', async () => {
    const catalog = new FunctionCatalog({ query });
    await catalog.refresh();
    expect([catalog.isWriteFunction('fc_bump'), catalog.isWriteFunction(`${schema}.fc_bump`)]).toEqual([
      true,
      true,
    ]);
  });

  it('does not report STABLE or IMMUTABLE functions', async () => {
    const catalog = new FunctionCatalog({ query });
    await catalog.refresh();
    expect([
      catalog.isWriteFunction(`${schema}.fc_peek`),
      catalog.isWriteFunction(`${schema}.fc_pure`),
    ]).toEqual([false, false]);
  });

  it('skips volatile functions of pg_catalog', async () => {
    const catalog = new FunctionCatalog({ query });
    await catalog.refresh();
    expect([catalog.isWriteFunction('random'), catalog.isWriteFunction('pg_catalog.random')]).toEqual([
      false,
      false,
    ]);
  });

  it('matches names case-sensitively, as PostgreSQL stores them', async () => {
    const catalog = new FunctionCatalog({ query });
    await catalog.refresh();
    expect([catalog.isWriteFunction('Fc_Mixed'), catalog.isWriteFunction('fc_mixed')]).toEqual([true, false]);
  });

  it('sees a function created after the first load once invalidated', async () => {
    const changes: number[] = [];
    const catalog = new FunctionCatalog({ query, onChange: () => changes.push(changes.length) });
    await catalog.refresh();
    await query(`CREATE FUNCTION ${schema}.fc_late() RETURNS int LANGUAGE sql AS 'SELECT 2'`);
    const before = catalog.isWriteFunction('fc_late');
    await catalog.invalidate();
    expect({ before, after: catalog.isWriteFunction('fc_late'), changes: changes.length }).toEqual({
      before: false,
      after: true,
      changes: 2,
    });
  });

  it('routes a call to a volatile user function to the primary once the classifier uses the catalog', async () => {
    let classifier: Classifier | null = null;
    const catalog = new FunctionCatalog({ query, onChange: () => classifier?.clearCache() });
    classifier = await Classifier.create({ isWriteFunction: catalog.isWriteFunction });
    const sql = `SELECT * FROM generate_series(1, 3) g WHERE g > ${schema}.fc_bump()`;
    const before = classifier.classify(sql).target;
    await catalog.refresh();
    expect({ before, after: classifier.classify(sql).target }).toEqual({ before: 'any', after: 'primary' });
  });
});

describe('FunctionCatalog load failures', () => {
  const failingQuery = async (): Promise<never> => {
    throw new Error('connection refused');
  };

  it('rejects refresh with a stable error code', async () => {
    const catalog = new FunctionCatalog({ query: failingQuery });
    await expect(catalog.refresh()).rejects.toMatchObject({ code: 'FUNCTION_CATALOG_LOAD_FAILED' });
  });

  it('reports invalidate failures to onError and keeps the names it had', async () => {
    let isFailing = false;
    const errors: FunctionCatalogLoadError[] = [];
    const catalog = new FunctionCatalog({
      query: (sql) => (isFailing ? failingQuery() : query(sql)),
      onError: (error) => errors.push(error),
    });
    await catalog.refresh();
    isFailing = true;
    await catalog.invalidate();
    expect({ errors: errors.length, stillKnown: catalog.isWriteFunction('fc_bump') }).toEqual({
      errors: 1,
      stillKnown: true,
    });
  });

  it('runs one more load when invalidated during a load, so late DDL is not missed', async () => {
    let calls = 0;
    const catalog = new FunctionCatalog({
      query: async (sql) => {
        calls++;
        return query(sql);
      },
    });
    const first = catalog.refresh();
    const second = catalog.invalidate();
    const third = catalog.invalidate();
    await Promise.all([first, second, third]);
    expect(calls).toBe(2);
  });
});
