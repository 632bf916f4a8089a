// Plain counters the hot path bumps (no prom-client here); metrics/ reads them at scrape time.

/** A histogram with fixed upper bounds, cheap to observe: one loop over a handful of numbers. */
export class FixedHistogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (v <= this.bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/** Seconds: 100 µs to 30 s. */
export const LATENCY_BOUNDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The map under `key`, created on first use. */
function child<V>(m: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let c = m.get(key);
  if (!c) {
    c = new Map();
    m.set(key, c);
  }
  return c;
}

function bump(m: Map<string, number>, key: string, by = 1): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

/** A count held in a nested map as an object, so the hot path can bump the one it found last time. */
interface Count {
  n: number;
}

function countIn(m: Map<string, Count>, key: string): Count {
  let c = m.get(key);
  if (!c) {
    c = { n: 0 };
    m.set(key, c);
  }
  return c;
}

/** The key path of the count bumped last, reused in place: consecutive requests mostly repeat it. */
interface LastCount {
  a: string;
  b: string;
  c: string;
  d: string;
  count: Count | null;
}

export class ProxyStats {
  /**
   * Requests routed, counted per decision in nested maps keyed by strings that already exist (no
   * string is built on the hot path); `routed` flattens them at read time.
   */
  private readonly routedByListener = new Map<string, Map<string, Map<string, Map<string, Count>>>>();
  private readonly lastRouted: LastCount = { a: '', b: '', c: '', d: '', count: null };
  /** Errors sent to clients, by `sqlstate class\0origin` (origin: server | proxy). */
  readonly errors = new Map<string, number>();
  /** Sessions pinned to their server connection, by reason. */
  readonly pins = new Map<string, number>();
  /** Transactions completed (ReadyForQuery back to idle), by listener then role (no string built per count). */
  private readonly transactionsByListener = new Map<string, Map<string, Count>>();
  private readonly lastTransaction: LastCount = { a: '', b: '', c: '', d: '', count: null };
  readonly poolWait = new FixedHistogram(LATENCY_BOUNDS);
  readonly requestDuration = new FixedHistogram(LATENCY_BOUNDS);
  bytesFromClients = 0;
  bytesToClients = 0;
  authFailures = 0;
  /** Requests answered without a server (known Parse, lost transaction). */
  answeredLocally = 0;
  /** Logins answered from a pool's login cache, and logins that ran on a server. */
  loginsFromCache = 0;
  loginsFromServer = 0;
  /** A new primary replaced one that failed (unplanned). */
  failovers = 0;
  /** A new primary replaced one that was handed over (terminating endpoint or PAUSE). */
  switchovers = 0;
  /** Last failover or switchover: from losing the primary to the first write routed to the new one. */
  lastFailoverSeconds: number | null = null;

  countRouted(listener: string, role: string, instance: string, reason: string): void {
    const last = this.lastRouted;
    if (
      last.count !== null &&
      last.a === listener &&
      last.b === role &&
      last.c === instance &&
      last.d === reason
    ) {
      last.count.n++;
      return;
    }
    const byRole = child(this.routedByListener, listener);
    const count = countIn(child(child(byRole, role), instance), reason);
    count.n++;
    last.a = listener;
    last.b = role;
    last.c = instance;
    last.d = reason;
    last.count = count;
  }

  /** Requests routed, by `listener\0role\0instance\0reason` (built at read time: scrapes, admin). */
  get routed(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const [listener, byRole] of this.routedByListener)
      for (const [role, byInstance] of byRole)
        for (const [instance, byReason] of byInstance)
          for (const [reason, c] of byReason) out.set(`${listener}\0${role}\0${instance}\0${reason}`, c.n);
    return out;
  }
  countError(sqlState: string, origin: 'server' | 'proxy'): void {
    bump(this.errors, `${sqlState.slice(0, 2)}\0${origin}`);
  }
  countPin(reason: string): void {
    bump(this.pins, reason);
  }
  countTransaction(listener: string, role: string): void {
    const last = this.lastTransaction;
    if (last.count !== null && last.a === listener && last.b === role) {
      last.count.n++;
      return;
    }
    const count = countIn(child(this.transactionsByListener, listener), role);
    count.n++;
    last.a = listener;
    last.b = role;
    last.count = count;
  }

  /** Transactions completed, by `listener\0role` (built at read time). */
  get transactions(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const [listener, byRole] of this.transactionsByListener)
      for (const [role, c] of byRole) out.set(`${listener}\0${role}`, c.n);
    return out;
  }
}
