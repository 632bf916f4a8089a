// Adapts the pure routing policy to sessions: picks the pool, holds writes while no primary is known.

import type { TopologySnapshot, TopologyView } from '../discovery/topology-view.js';
import { Balancer } from '../router/balancer.js';
import {
  decideRoute,
  EligibleMemo,
  instanceById,
  type ListenerMode,
  type PolicyOptions,
  type RouteDecision,
} from '../router/policy.js';
import type { RouteRequest, SessionRouter } from './client-session.js';
import { ProxyError, SqlState } from './errors.js';
import type { Pool } from './server/pool.js';
import type { PoolRegistry } from './server/pool-registry.js';

export interface RouterCounters {
  onRouted(listener: string, decision: Extract<RouteDecision, { kind: 'route' }>): void;
  onHeld(delta: number): void;
}

export interface TopologyRouterOptions {
  policy: () => PolicyOptions;
  primaryWaitTimeoutMs: () => number;
  /** Most writes that may wait for a primary at once. */
  maxHeld: number;
}

/**
 * One per listener mode. Writes that find no primary wait here ("held") until the topology names one,
 * which turns a failover into a pause instead of an error.
 */
export class TopologyRouter {
  private readonly balancer = new Balancer();
  private readonly memo = new EligibleMemo();
  private held = 0;
  private readonly waiters = new Set<() => void>();
  /** PAUSE: new requests wait here; running transactions finish. */
  private isPaused = false;

  constructor(
    private readonly topology: TopologyView,
    private readonly pools: PoolRegistry,
    private readonly options: TopologyRouterOptions,
    private readonly counters: RouterCounters,
  ) {
    topology.onChange((next) => {
      this.balancer.retain(new Set(next.instances.map((i) => i.id)));
      for (const w of [...this.waiters]) w();
    });
  }

  get heldCount(): number {
    return this.held;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Hold every new request (admin PAUSE, planned switchover) until `resume`. */
  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
    for (const w of [...this.waiters]) w();
  }

  forMode(mode: ListenerMode, listener: string): SessionRouter {
    return { route: (req) => this.route(mode, listener, req), knowsStandby: () => this.knowsStandby() };
  }

  /** Any instance last seen as a standby, whatever its health: it may serve reads again. */
  knowsStandby(): boolean {
    return this.topology.current().instances.some((i) => i.role === 'standby');
  }

  private decide(mode: ListenerMode, req: RouteRequest, snapshot: TopologySnapshot): RouteDecision {
    return decideRoute(
      { mode, purpose: req.kind, statements: req.statements, session: req.session.routing, snapshot },
      this.options.policy(),
      this.balancer,
      this.memo,
    );
  }

  private poolFor(
    decision: Extract<RouteDecision, { kind: 'route' }>,
    req: RouteRequest,
    snapshot: TopologySnapshot,
  ): Pool {
    const inst = instanceById(snapshot.instances, decision.instanceId)!;
    return this.pools.get(inst.id, inst.host, inst.port, req.session.user, req.session.database);
  }

  route(mode: ListenerMode, listener: string, req: RouteRequest): Pool | Promise<Pool> {
    const snapshot = this.topology.current();
    const d = this.decide(mode, req, snapshot);
    if (this.isPaused && req.kind === 'batch') return this.hold(mode, listener, req);
    if (d.kind === 'route') {
      req.session.lastRoute = d;
      this.counters.onRouted(listener, d);
      return this.poolFor(d, req, snapshot);
    }
    if (d.kind === 'unavailable') {
      throw new ProxyError('NO_INSTANCE', SqlState.CannotConnectNow, `pgroute: ${d.detail}`);
    }
    return this.hold(mode, listener, req);
  }

  /** Wait for a topology in which the request can be routed, up to the primary wait timeout. */
  private hold(mode: ListenerMode, listener: string, req: RouteRequest): Promise<Pool> {
    if (this.held >= this.options.maxHeld) {
      return Promise.reject(
        new ProxyError(
          'HELD_QUEUE_FULL',
          SqlState.CannotConnectNow,
          'pgroute: too many requests waiting for a primary',
        ),
      );
    }
    this.held++;
    this.counters.onHeld(1);
    return new Promise<Pool>((resolve, reject) => {
      const done = (): void => {
        this.waiters.delete(retry);
        clearTimeout(timer);
        this.held--;
        this.counters.onHeld(-1);
      };
      const retry = (): void => {
        if (this.isPaused && req.kind === 'batch') return;
        const snapshot = this.topology.current();
        const d = this.decide(mode, req, snapshot);
        if (d.kind !== 'route') return;
        done();
        req.session.lastRoute = d;
        this.counters.onRouted(listener, d);
        resolve(this.poolFor(d, req, snapshot));
      };
      const waitMs = this.options.primaryWaitTimeoutMs();
      const timer = setTimeout(() => {
        done();
        reject(
          new ProxyError(
            'PRIMARY_WAIT_TIMEOUT',
            SqlState.CannotConnectNow,
            `pgroute: no primary became available within ${waitMs} ms`,
            'ERROR',
            this.isPaused
              ? 'pgroute is paused (PAUSE)'
              : 'the cluster has no writable primary (failover in progress?)',
          ),
        );
      }, waitMs);
      this.waiters.add(retry);
      req.session.onAbandon(() => {
        if (!this.waiters.has(retry)) return;
        done();
        reject(new ProxyError('CANCELED', SqlState.QueryCanceled, 'canceling statement due to user request'));
      });
    });
  }
}
