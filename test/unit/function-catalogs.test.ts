// The per-database function catalogs: a load that fails after the proxy stopped is not reported.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { TopologySnapshot, TopologyView } from '../../discovery/topology-view.js';
import { FunctionCatalogs } from '../../proxy/function-catalogs.js';
import { instanceState } from '../harness/instance-state.js';

interface SilentServer {
  port: number;
  connections(): number;
  dropAll(): void;
  close(): Promise<void>;
}

/** A TCP server that accepts and never answers: a load hangs until the test drops the connections. */
async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => sockets.size,
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function topologyAt(port: number): TopologyView {
  const p = instanceState(`127.0.0.1:${port}`, 'primary');
  const snapshot: TopologySnapshot = {
    version: 1,
    instances: [p],
    primaryId: p.id,
    reason: '',
    isLagOnly: false,
  };
  return { current: () => snapshot, onChange: () => () => undefined, reportFailure: () => undefined };
}

describe('FunctionCatalogs', () => {
  it('warns when a load fails, but not for a load that fails after stop(), and starts none after it', async () => {
    const server = await silentServer();
    const warned = { stopped: [] as string[], running: [] as string[] };
    let loadsStarted = 0;
    const password = (): string => {
      loadsStarted++;
      return 'pw';
    };
    let runningWarned: () => void = () => undefined;
    const runningFailed = new Promise<void>((r) => {
      runningWarned = r;
    });
    const stopped = new FunctionCatalogs(topologyAt(server.port), password, () => undefined, {
      warn: (_f, m) => warned.stopped.push(m),
    });
    const running = new FunctionCatalogs(topologyAt(server.port), password, () => undefined, {
      warn: (_f, m) => {
        warned.running.push(m);
        runningWarned();
      },
    });
    try {
      stopped.track('app', 'app');
      running.track('app', 'app');
      while (server.connections() < 2) await new Promise((r) => setTimeout(r, 10));
      stopped.stop();
      // Both loads now fail the same way: the running one's warning shows the failure got through.
      server.dropAll();
      await runningFailed;
      await new Promise((r) => setImmediate(r));
      expect(warned.running[0]).toMatch(/Connection terminated/);
      expect(warned.stopped).toEqual([]);
      const started = loadsStarted;
      stopped.track('app', 'other');
      stopped.invalidate();
      await new Promise((r) => setImmediate(r));
      expect(loadsStarted).toBe(started);
    } finally {
      stopped.stop();
      running.stop();
      await server.close();
    }
  });
});
