// `pgroute demo`: a local primary + two standbys, pgroute in front with one listener per mode, clean Ctrl-C.

import { createServer } from 'node:net';
import { validateConfig } from '../config.js';
import { startPgroute } from '../main.js';
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
    log: { level: 'info', format: 'pretty' },
    shutdown: { timeout: '5s' },
  });
  const proxy = await startPgroute(config);
  await proxy.discovery.waitFor((s) => s.primaryId !== null, 10_000).catch(() => undefined);
  console.log('\nInstances:');
  for (const i of instances)
    console.log(`  ${i.name}  ${i.host}:${i.port}  (${i.name === 'pg0' ? 'primary' : 'standby'})`);
  console.log('\nConnect through pgroute (password: ' + users.scram.password + '):');
  for (let k = 0; k < MODES.length; k++) {
    const m = MODES[k]!;
    console.log(
      `  ${m.mode.padEnd(4)} psql "postgresql://${users.scram.name}@127.0.0.1:${listen[k]!.port}/${database}"   # ${m.what}`,
    );
  }
  console.log('\nTry:  SELECT inet_server_addr();   (run it a few times: reads rotate over the standbys)');
  console.log('Press Ctrl-C to stop pgroute and remove the demo cluster.\n');
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  console.log('\nstopping ...');
  await proxy.stop();
  await cluster.destroy();
  return 0;
}
