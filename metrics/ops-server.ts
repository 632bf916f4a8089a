// The operations HTTP endpoint: /metrics, liveness/readiness probes, /status JSON, Patroni-style /primary and /replica.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { MetricsSource } from './metrics-source.js';
import { buildMetricsRegistry } from './registry.js';
import {
  buildStatusReport,
  findEligibleStandbys,
  findWritablePrimary,
  type LagLimits,
} from './status-report.js';

export interface OpsLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  log: OpsLog;
  /**
   * Readiness beyond "the listeners exist": e.g. false once shutdown began, so Kubernetes stops sending
   * new clients. Never tie it to the topology: a failover must not take every proxy out of its Service.
   */
  isReady?: () => boolean;
  /** The routing policy's lag limits, so /replica agrees with the router; default: no limit. */
  lagLimits?: () => LagLimits;
  clock?: () => number;
  /** A registry built elsewhere (to share it); by default one is built from `source`. */
  registry?: Registry;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  type: string;
  body: string;
}

const text = (status: number, body: string): Reply => ({
  status,
  type: 'text/plain; charset=utf-8',
  body: `${body}\n`,
});
const json = (status: number, value: unknown): Reply => ({
  status,
  type: 'application/json; charset=utf-8',
  body: `${JSON.stringify(value, null, 2)}\n`,
});

export async function startOpsServer(source: MetricsSource, options: OpsServerOptions): Promise<OpsServer> {
  const registry = options.registry ?? buildMetricsRegistry(source);
  const clock = options.clock ?? Date.now;
  const noLimits: LagLimits = { maxLagBytes: null, maxLagSeconds: null };

  const route = async (path: string): Promise<Reply> => {
    switch (path) {
      case '/metrics':
        return { status: 200, type: registry.contentType, body: await registry.metrics() };
      case '/healthz':
        // Answering at all is the check: a blocked event loop times the probe out.
        return text(200, 'ok');
      case '/readyz': {
        const isReady = source.listeners.length > 0 && (options.isReady?.() ?? true);
        return isReady ? text(200, 'ready') : text(503, 'not ready');
      }
      case '/status':
        return json(200, buildStatusReport(source, clock()));
      case '/primary': {
        const snapshot = source.discovery.current();
        const p = findWritablePrimary(snapshot);
        return json(p ? 200 : 503, { primary: p?.id ?? null, timeline: p?.timeline ?? null });
      }
      case '/replica': {
        const standbys = findEligibleStandbys(source.discovery.current(), options.lagLimits?.() ?? noLimits);
        return json(standbys.length > 0 ? 200 : 503, { standbys: standbys.map((s) => s.id) });
      }
      default:
        return text(404, 'not found');
    }
  };

  const server = http.createServer((req, res) => {
    const send = (r: Reply): void => {
      res.writeHead(r.status, {
        'content-type': r.type,
        'content-length': Buffer.byteLength(r.body),
        'cache-control': 'no-store',
      });
      // Node drops the body of a HEAD response itself; headers (length included) stay as for GET.
      res.end(r.body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(text(405, 'method not allowed'));
      return;
    }
    // Only the path selects a route; the query string and the rest of the request are never echoed.
    const path = (req.url ?? '/').split('?', 1)[0]!;
    route(path).then(send, (err: unknown) => {
      options.log.warn({ event: 'ops-request-failed', path, err: String(err) }, 'ops request failed');
      send(text(500, 'internal error'));
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ event: 'ops-listening', host: options.host, port }, 'ops HTTP server listening');

  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections of scrapers would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
