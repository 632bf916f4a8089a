// One instance's probe: a kept-open pg connection, one query per interval, typed failures, reconnect next tick.

import pg from 'pg';
import { ProbeConnectionLostError, ProbeTimeoutError } from './errors.js';
import { PROBE_SQL, type ProbeResult, parseProbeRow } from './probe-query.js';

export interface ProbeTarget {
  id: string;
  host: string;
  port: number;
}

export interface ProbeCredentials {
  user: string;
  /** A function is asked at each connect, so a rotated password applies to the next probe connection. */
  password?: string | (() => string);
  database: string;
}

export interface InstanceProbeOptions extends ProbeCredentials {
  intervalMs: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  applicationName: string;
  /**
   * `vouchesForHealth` is false for a probe that was already running when a failure of the instance
   * was reported: the instance may have answered it just before failing.
   */
  onResult: (id: string, result: ProbeResult, vouchesForHealth: boolean) => void;
  onFailure: (id: string, error: Error) => void;
}

type ProbeState = 'idle' | 'running' | 'stopped';

export class InstanceProbe {
  private state: ProbeState = 'idle';
  private client: pg.Client | null = null;
  private inFlight: Promise<void> | null = null;
  /** A failure was reported while the probe in flight ran: its success proves nothing since. */
  private isInFlightStale = false;
  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly target: ProbeTarget,
    private readonly options: InstanceProbeOptions,
  ) {}

  /** Probes at once, then every interval. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    void this.probeNow();
  }

  /**
   * Probes as soon as possible: right away when idle, else once the probe in flight is done (its answer may
   * predate the event that asked for this one). Concurrent callers share one queued probe.
   */
  probeNow(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    if (this.inFlight === null) return this.runProbe();
    this.queued ??= this.inFlight.then(() => {
      this.queued = null;
      return this.runProbe();
    });
    return this.queued;
  }

  /**
   * A data connection to the instance failed: probe again as soon as possible, and do not let the
   * probe already in flight, which may have been answered just before the failure, vouch for it.
   */
  probeAfterFailure(): Promise<void> {
    if (this.inFlight !== null) this.isInFlightStale = true;
    return this.probeNow();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.clearTimer();
    await this.inFlight;
    await this.closeClient();
  }

  private runProbe(): Promise<void> {
    this.clearTimer();
    const started = Date.now();
    this.isInFlightStale = false;
    const run = this.probeOnce().finally(() => {
      this.inFlight = null;
      if (this.state === 'running' && this.queued === null) {
        // Fixed rate: one round trip per interval, however long the last one took.
        this.timer = setTimeout(
          () => void this.probeNow(),
          Math.max(0, this.options.intervalMs - (Date.now() - started)),
        );
      }
    });
    this.inFlight = run;
    return run;
  }

  private async probeOnce(): Promise<void> {
    let result: ProbeResult;
    try {
      const client = this.client ?? (await this.connect());
      const query = client.query(PROBE_SQL);
      const { rows } = await this.withTimeout(query, 'query', this.options.queryTimeoutMs, client);
      const [row] = rows as Record<string, unknown>[];
      result = parseProbeRow(row ?? {});
    } catch (error) {
      await this.closeClient();
      if (this.state !== 'stopped') this.options.onFailure(this.target.id, asError(error));
      return;
    }
    if (this.state !== 'stopped') this.options.onResult(this.target.id, result, !this.isInFlightStale);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      host: this.target.host,
      port: this.target.port,
      user: this.options.user,
      password: this.options.password,
      database: this.options.database,
      application_name: this.options.applicationName,
      keepAlive: true,
    });
    // A connection that breaks between probes (shutdown, crash) is reported at once, not at the next tick.
    client.on('error', (error) => this.handleLost(client, error));
    client.on('end', () => this.handleLost(client, new Error('server closed the connection')));
    this.client = client;
    await this.withTimeout(client.connect(), 'connect', this.options.connectTimeoutMs, client);
    return client;
  }

  private handleLost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = null;
    destroyClient(client);
    // A probe in flight fails on its own and reports then; only idle losses are reported here.
    if (this.state === 'running' && this.inFlight === null) {
      this.options.onFailure(this.target.id, new ProbeConnectionLostError(this.target.id, error.message));
      void this.probeNow();
    }
  }

  private withTimeout<T>(
    promise: Promise<T>,
    phase: 'connect' | 'query',
    timeoutMs: number,
    client: pg.Client,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new ProbeTimeoutError(this.target.id, phase, timeoutMs));
        // The server may be frozen: do not wait for a polite Terminate to be answered.
        destroyClient(client);
      }, timeoutMs);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private async closeClient(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client === null) return;
    destroyClient(client);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Ends the connection without waiting for the server: a frozen server would never answer the Terminate. */
function destroyClient(client: pg.Client): void {
  client.end().catch(() => {});
  client.connection.stream.destroy();
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
