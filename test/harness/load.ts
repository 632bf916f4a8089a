// Drives a steady client load through pgroute for failover tests: writers INSERT unique ids, readers SELECT, every outcome recorded.

import pg from 'pg';

export interface LoadOptions {
  /** Where the clients connect (a pgroute listener). */
  connection: pg.ClientConfig;
  /** Table created by `Load.createTableSql`. */
  table: string;
  writers: number;
  readers: number;
  /** Pause between one client's statements, in ms (default 2): keeps a 2-core machine responsive. */
  pauseMs?: number;
  /** ms epoch; default Date.now. The same clock as the topology's, so timelines line up. */
  now?: () => number;
}

export type LoadClientKind = 'write' | 'read';

export interface LoadFailure {
  client: string;
  kind: LoadClientKind;
  /** When the statement was sent and when its error arrived (ms epoch). */
  startedAt: number;
  at: number;
  /** SQLSTATE, or null for an error without one (the connection broke). */
  code: string | null;
  message: string;
  /** The id a failed INSERT tried to write: it may or may not have committed. */
  id?: number;
}

export interface LoadAck {
  id: number;
  client: string;
  startedAt: number;
  at: number;
}

export interface LoadClose {
  client: string;
  at: number;
  error: string | null;
}

interface LoadClient {
  name: string;
  kind: LoadClientKind;
  client: pg.Client;
  isEnding: boolean;
  loop: Promise<void>;
}

/**
 * N writers each INSERT the next id of one shared counter in autocommit mode, M readers SELECT from the
 * same table, all as fast as the pause allows. A failed statement is recorded and the client carries on
 * with the next one on the same connection, as an application with a retry loop would.
 */
export class Load {
  readonly acks: LoadAck[] = [];
  readonly failures: LoadFailure[] = [];
  readonly closes: LoadClose[] = [];
  /** Clients still waiting for an answer when `stop` gave up on them. */
  readonly stuck: string[] = [];
  /** Successful reads, per reader. */
  readonly readCounts = new Map<string, number>();
  /** When each client last completed a statement successfully (ms epoch). */
  readonly lastOkAt = new Map<string, number>();
  private readonly clients: LoadClient[] = [];
  private nextId = 1;
  private isStopping = false;

  private constructor(private readonly options: Required<Omit<LoadOptions, 'connection'>> & LoadOptions) {}

  /** The table the load writes: ids are unique, `writer` names the client that wrote the row. */
  static createTableSql(table: string): string {
    return `CREATE TABLE ${table} (id bigint PRIMARY KEY, writer text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`;
  }

  /** Connects every client first, then starts them all at once. */
  static async start(options: LoadOptions): Promise<Load> {
    const load = new Load({ pauseMs: 2, now: Date.now, ...options });
    try {
      await load.connectAll();
    } catch (err) {
      await load.stop();
      throw err;
    }
    load.run();
    return load;
  }

  /** Highest id handed to a writer so far; ids are issued in increasing order. */
  get lastIssuedId(): number {
    return this.nextId - 1;
  }

  get acknowledgedIds(): number[] {
    return this.acks.map((a) => a.id);
  }

  get readCount(): number {
    let n = 0;
    for (const c of this.readCounts.values()) n += c;
    return n;
  }

  failuresOf(kind: LoadClientKind): LoadFailure[] {
    return this.failures.filter((f) => f.kind === kind);
  }

  /** The first write acknowledged at or after `since` (ms epoch). */
  firstAckAfter(since: number): LoadAck | null {
    return this.acks.find((a) => a.at >= since) ?? null;
  }

  /** Clients whose last success came before `t` (or that never succeeded). */
  clientsIdleSince(t: number): string[] {
    return this.clients.map((c) => c.name).filter((n) => (this.lastOkAt.get(n) ?? 0) < t);
  }

  /** Failures per client, for "at most one error per writer". */
  failuresPerClient(kind: LoadClientKind): Map<string, number> {
    const counts = new Map<string, number>();
    for (const f of this.failuresOf(kind)) counts.set(f.client, (counts.get(f.client) ?? 0) + 1);
    return counts;
  }

  /**
   * Lets every client finish its current statement (up to `timeoutMs`), then disconnects them. A client
   * whose statement never got an answer is listed in `stuck` and its connection destroyed, so a proxy
   * that loses a request fails the test instead of hanging it.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.isStopping) return;
    this.isStopping = true;
    const finished = new Set<string>();
    const loops = this.clients.map((c) => c.loop.then(() => finished.add(c.name)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(loops), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await Promise.all(
      this.clients.map(async (c) => {
        c.isEnding = true;
        if (finished.has(c.name)) return c.client.end().catch(() => {});
        this.stuck.push(c.name);
        socketOf(c.client)?.destroy();
      }),
    );
  }

  private async connectAll(): Promise<void> {
    const specs: { name: string; kind: LoadClientKind }[] = [
      ...Array.from({ length: this.options.writers }, (_, i) => ({ name: `w${i}`, kind: 'write' as const })),
      ...Array.from({ length: this.options.readers }, (_, i) => ({ name: `r${i}`, kind: 'read' as const })),
    ];
    for (const spec of specs) {
      const client = new pg.Client({ ...this.options.connection, application_name: `load-${spec.name}` });
      const entry: LoadClient = { ...spec, client, isEnding: false, loop: Promise.resolve() };
      // An unhandled 'error' would crash the test process; both events mean the connection is gone.
      client.on('error', (err) => this.noteClose(entry, err));
      client.on('end', () => this.noteClose(entry, null));
      await client.connect();
      this.clients.push(entry);
      if (spec.kind === 'read') this.readCounts.set(spec.name, 0);
    }
  }

  private noteClose(entry: LoadClient, err: Error | null): void {
    if (entry.isEnding) return;
    const at = this.options.now();
    // 'error' and then 'end' for one break: record the break once.
    if (this.closes.some((c) => c.client === entry.name)) return;
    this.closes.push({ client: entry.name, at, error: err ? err.message : null });
  }

  private run(): void {
    for (const c of this.clients) c.loop = c.kind === 'write' ? this.writeLoop(c) : this.readLoop(c);
  }

  private isGone(c: LoadClient): boolean {
    return this.closes.some((x) => x.client === c.name);
  }

  private async writeLoop(c: LoadClient): Promise<void> {
    while (!this.isStopping && !this.isGone(c)) {
      const id = this.nextId++;
      const startedAt = this.options.now();
      try {
        await c.client.query(`INSERT INTO ${this.options.table} (id, writer) VALUES ($1, $2)`, [id, c.name]);
        const at = this.options.now();
        this.acks.push({ id, client: c.name, startedAt, at });
        this.lastOkAt.set(c.name, at);
      } catch (err) {
        this.failures.push(this.describeFailure(c, startedAt, err, id));
      }
      await pause(this.options.pauseMs);
    }
  }

  private async readLoop(c: LoadClient): Promise<void> {
    while (!this.isStopping && !this.isGone(c)) {
      const startedAt = this.options.now();
      try {
        await c.client.query(`SELECT count(*) AS n, max(id) AS top FROM ${this.options.table}`);
        this.readCounts.set(c.name, (this.readCounts.get(c.name) ?? 0) + 1);
        this.lastOkAt.set(c.name, this.options.now());
      } catch (err) {
        this.failures.push(this.describeFailure(c, startedAt, err));
      }
      await pause(this.options.pauseMs);
    }
  }

  private describeFailure(c: LoadClient, startedAt: number, err: unknown, id?: number): LoadFailure {
    const e = err as { code?: unknown; message?: unknown };
    return {
      client: c.name,
      kind: c.kind,
      startedAt,
      at: this.options.now(),
      code: typeof e.code === 'string' ? e.code : null,
      message: typeof e.message === 'string' ? e.message : String(err),
      ...(id === undefined ? {} : { id }),
    };
  }
}

/** node-postgres keeps its socket private; destroying it is the only way to abandon a query that hangs. */
function socketOf(client: pg.Client): { destroy(): void } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
