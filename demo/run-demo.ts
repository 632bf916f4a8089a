// `pgroute demo`: a local primary + two standbys, pgroute in front with one listener per mode, live routing counts, failover on demand.

import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { validateConfig } from '../config.js';
import { type RunningProxy, startPgroute } from '../main.js';
import { findFreePort } from './free-port.js';
import { LocalCluster } from './local-cluster.js';

const MODES = [
  { mode: 'auto', port: 6432, what: 'writes -> primary, reads -> standbys (round robin)' },
  { mode: 'rw', port: 6433, what: 'everything -> primary' },
  { mode: 'ro', port: 6434, what: 'standbys only' },
  { mode: 'r', port: 6435, what: 'every instance, round robin' },
] as const;

/** The well-known port when it is free, else any free one (a second demo, or a local PgBouncer). */
function portOr(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(findFreePort('127.0.0.1')));
    probe.listen({ host: '127.0.0.1', port: preferred, exclusive: true }, () =>
      probe.close(() => resolve(preferred)),
    );
  });
}

/** One line: the current primary and how many requests each instance received. */
export function describeRouting(proxy: RunningProxy, names: ReadonlyMap<string, string>): string {
  const perInstance = new Map<string, number>();
  for (const [key, n] of proxy.stats.routed) {
    const [, , instance, reason] = key.split('\0');
    if (reason === 'login') continue;
    perInstance.set(instance!, (perInstance.get(instance!) ?? 0) + n);
  }
  const snap = proxy.discovery.current();
  const parts = snap.instances.map((i) => {
    const role = i.isWritable
      ? 'primary'
      : i.role === 'primary'
        ? 'fenced'
        : i.health !== 'up'
          ? i.health
          : i.role;
    return `${names.get(i.id) ?? i.id} ${role}: ${perInstance.get(i.id) ?? 0}`;
  });
  const held = proxy.router.heldCount > 0 ? ` | writes waiting for a primary: ${proxy.router.heldCount}` : '';
  return `requests routed -> ${parts.join(' | ')}${held}`;
}

export async function runDemo(_args: string[]): Promise<number> {
  console.log('pgroute demo: starting a PostgreSQL primary and two standbys on 127.0.0.2-4 ...');
  const cluster = await LocalCluster.start({});
  const { users, instances, database } = cluster.descriptor;
  const listen = [];
  for (const m of MODES) listen.push({ host: '127.0.0.1', port: await portOr(m.port), mode: m.mode });
  const config = validateConfig({
    listen,
    cluster: {
      hosts: instances.map((i) => `${i.host}:${i.port}`),
      probe: { user: cluster.descriptor.superuser, database: 'postgres' },
    },
    users: [{ name: users.scram.name, password: users.scram.password }],
    admin: { users: [users.scram.name] },
    http: { host: '127.0.0.1', port: await portOr(8080) },
    log: { level: 'info', format: 'pretty' },
    shutdown: { timeout: '5s' },
  });
  const proxy = await startPgroute(config);
  await proxy.discovery.waitFor((s) => s.primaryId !== null, 10_000).catch(() => undefined);
  const names = new Map(instances.map((i) => [`${i.host}:${i.port}`, i.name]));
  console.log('\nInstances:');
  for (const i of instances)
    console.log(`  ${i.name}  ${i.host}:${i.port}  (${i.name === 'pg0' ? 'primary' : 'standby'})`);
  console.log(`\nConnect through pgroute (password: ${users.scram.password}):`);
  for (let k = 0; k < MODES.length; k++) {
    const m = MODES[k]!;
    const url = `postgresql://${users.scram.name}@127.0.0.1:${listen[k]!.port}/${database}`;
    console.log(`  ${m.mode.padEnd(4)} psql "${url}"   # ${m.what}`);
  }
  console.log(
    `\nAdmin console:  psql "postgresql://${users.scram.name}@127.0.0.1:${listen[1]!.port}/pgroute" -c 'SHOW NODES'`,
  );
  console.log(`Metrics:        curl http://127.0.0.1:${config.http!.port}/metrics`);
  console.log('\nTry:  SELECT inet_server_addr();   (run it a few times: reads rotate over the standbys)');
  console.log('Type "failover" + Enter to kill the primary and promote pg1 (writes pause, then resume);');
  console.log('Ctrl-C stops pgroute and removes the demo cluster.\n');

  let last = '';
  const ticker = setInterval(() => {
    const line = describeRouting(proxy, names);
    if (line !== last) console.log(line);
    last = line;
  }, 2000);
  let isFailingOver = false;
  const failover = async (): Promise<void> => {
    if (isFailingOver) return;
    isFailingOver = true;
    const primary = proxy.discovery.current().instances.find((i) => i.isWritable);
    const from = primary ? names.get(primary.id) : undefined;
    const to = instances.map((i) => i.name).find((n) => n !== from);
    if (!from || !to) {
      console.log('no primary to fail over from');
      isFailingOver = false;
      return;
    }
    console.log(`failover: stopping ${from} (immediate), promoting ${to} ...`);
    const started = Date.now();
    await cluster.stop(from, 'immediate');
    await cluster.promote(to);
    for (const other of instances.map((i) => i.name).filter((n) => n !== from && n !== to))
      await cluster.repoint(other, to);
    console.log(
      `failover: ${to} is the primary after ${Date.now() - started} ms; writes held meanwhile now run there`,
    );
  };
  const rl = process.stdin.isTTY ? createInterface({ input: process.stdin }) : null;
  rl?.on('line', (l) => {
    if (l.trim() === 'failover')
      void failover().catch((err: unknown) => console.log(`failover failed: ${String(err)}`));
  });
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  clearInterval(ticker);
  rl?.close();
  console.log('\nstopping ...');
  await proxy.stop();
  await cluster.destroy();
  return 0;
}
