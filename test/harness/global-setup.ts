// vitest globalSetup: starts the one shared PostgreSQL cluster (pg0 primary, pg1/pg2 standbys) for all test files.
import type { TestProject } from 'vitest/node';
import { LocalCluster, type LocalClusterDescriptor } from '../../demo/local-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: LocalClusterDescriptor;
  }
}

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  const startedAt = Date.now();
  const log = process.env.PGROUTE_CLUSTER_LOG
    ? (line: string) => console.log(`[cluster] ${line}`)
    : undefined;
  const cluster = await LocalCluster.start({ log });
  console.log(
    `[cluster] shared cluster started in ${Date.now() - startedAt} ms at ${cluster.descriptor.baseDir}`,
  );
  provide('cluster', cluster.descriptor);
  return () => cluster.destroy();
}
