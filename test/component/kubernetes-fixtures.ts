// The shared CloudNativePG fixture objects, loaded for the fake API server with their pod IPs moved to loopback.

import { readFileSync } from 'node:fs';
import type { FakeEvent, FakeObject } from './fake-kube-api.js';

const FIXTURES = new URL('../../../shared/fixtures/kubernetes/cnpg-mycluster/', import.meta.url);

/** Fixture pod IPs -> loopback addresses, so nothing derived from them can ever reach a real network. */
export const FIXTURE_ADDRESSES: Readonly<Record<string, string>> = {
  '10.244.125.198': '127.0.77.1',
  '10.244.155.112': '127.0.77.2',
  '10.244.125.219': '127.0.77.3',
  '10.244.140.231': '127.0.77.4',
};

export interface CnpgFixtures {
  slices: { metadata: { resourceVersion: string }; items: FakeObject[] };
  pods: { metadata: { resourceVersion: string }; items: FakeObject[] };
  sliceEvents: FakeEvent[];
  podEvents: FakeEvent[];
}

/** The shared CloudNativePG fixtures with their addresses rewritten by `addresses`. */
export function loadCnpgFixtures(
  addresses: Readonly<Record<string, string>> = FIXTURE_ADDRESSES,
): CnpgFixtures {
  const read = (name: string) => {
    let text = readFileSync(new URL(name, FIXTURES), 'utf8');
    for (const [from, to] of Object.entries(addresses)) text = text.split(`"${from}"`).join(`"${to}"`);
    return text;
  };
  const events = (name: string) =>
    read(name)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as FakeEvent);
  return {
    slices: JSON.parse(read('endpointslices.list.json')),
    pods: JSON.parse(read('pods.list.json')),
    sliceEvents: events('endpointslices.failover.watch.jsonl'),
    podEvents: events('pods.failover.watch.jsonl'),
  };
}
