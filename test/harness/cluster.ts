// Gives test files a handle on the shared cluster that test/harness/global-setup.ts started.
//
// RULE: the shared cluster is used by every test file at once (vitest runs files in parallel). Only
// read from it, or write to tables with names unique to your test, and drop them afterwards. A test
// that stops, restarts, promotes, repoints or delays an instance MUST start its own private cluster
// with `LocalCluster.start({ firstHost: N })`, using a loopback octet not used elsewhere (the shared
// one is 2..4; pick 10, 20, 30... one per test file) and `destroy()` it in afterAll.
import { inject } from 'vitest';
import { LocalCluster } from '../../demo/local-cluster.js';

export function sharedCluster(): LocalCluster {
  return LocalCluster.attach(inject('cluster'));
}
