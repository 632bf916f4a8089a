// One listening socket: accepts clients, enforces connection and auth-time limits, hands them to sessions, drains.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { Cancellable, CancelRegistry } from './cancel-registry.js';
import { ClientSession, type SessionDeps } from './client-session.js';
import { runClientStartup, type UserEntry } from './client-startup.js';
import { ProxyError, SqlState } from './errors.js';
import { adoptReadBuffer } from './wire/read-buffer.js';

export type ListenerMode = 'auto' | 'rw' | 'ro' | 'r';

export interface ListenerOptions {
  host: string;
  port: number;
  mode: ListenerMode;
  maxClients: number;
  authTimeoutMs: number;
}

export interface ListenerDeps {
  log: Logger;
  findUser(name: string): UserEntry | undefined;
  tls(): { context: tls.SecureContext; isRequired: boolean } | null;
  /**
   * Everything a session is built with, as one object literal: every session's deps then share one
   * hidden class, so the property loads the hot path makes on them stay monomorphic (a spread per
   * session gave each its own, and made them megamorphic).
   */
  sessionDeps(
    mode: ListenerMode,
    listenerName: string,
    own: Pick<SessionDeps, 'log' | 'onClosed'>,
  ): SessionDeps;
  /** Shared by every listener: a cancel may arrive on any port. */
  cancels: CancelRegistry<Cancellable>;
  /** A client asked for the admin database: hand it over (or refuse it) after authentication. */
  startAdmin(socket: net.Socket, user: string, rest: Buffer): void;
  clientCount(): number;
  onSession(session: ClientSession, isOpen: boolean): void;
  nextClientId(): number;
  onAuthFailure(): void;
}

const MOCK_SECRET = randomBytes(32);

/** `psql -d pgroute` reaches the admin console, as `psql -d pgbouncer` does PgBouncer's. */
export const ADMIN_DATABASE = 'pgroute';

export class Listener {
  private server: net.Server | null = null;
  readonly sessions = new Set<ClientSession>();
  private readonly pending = new Set<net.Socket>();
  authFailures = 0;

  constructor(
    readonly options: ListenerOptions,
    private readonly deps: ListenerDeps,
  ) {}

  get name(): string {
    return `${this.options.mode}@${this.options.host}:${this.port}`;
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.options.port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.accept(s));
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        this.server = server;
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    adoptReadBuffer(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('error', () => socket.destroy());
    if (this.deps.clientCount() >= this.options.maxClients) {
      socket.end(
        new ProxyError(
          'TOO_MANY_CLIENTS',
          SqlState.TooManyConnections,
          'sorry, too many clients already',
          'FATAL',
        ).toMessage(),
      );
      return;
    }
    this.pending.add(socket);
    const timer = setTimeout(() => {
      // PostgreSQL closes silently when authentication_timeout expires; we say why first.
      socket.end(
        new ProxyError(
          'AUTH_TIMEOUT',
          SqlState.ConnectionFailure,
          'pgroute: authentication timed out',
          'FATAL',
        ).toMessage(),
      );
      setTimeout(() => socket.destroy(), 100).unref();
    }, this.options.authTimeoutMs);
    runClientStartup(socket, {
      findUser: (n) => this.deps.findUser(n),
      tls: this.deps.tls(),
      onCancel: (pid, secret) => this.deps.cancels.cancel(pid, secret),
      mockSecret: MOCK_SECRET,
    }).then(
      (outcome) => {
        clearTimeout(timer);
        this.pending.delete(socket);
        if (outcome.kind === 'cancel') {
          socket.end();
          return;
        }
        if (outcome.database === ADMIN_DATABASE) {
          this.deps.startAdmin(outcome.socket as net.Socket, outcome.user.name, outcome.rest);
          return;
        }
        const id = this.deps.nextClientId();
        const log = this.deps.log.child({
          client: id,
          user: outcome.user.name,
          database: outcome.database,
          listener: this.name,
        });
        // The cancel key must exist before the session (it is part of the session's identity).
        const holder: { session: ClientSession | null } = { session: null };
        const key = this.deps.cancels.issue({ cancel: (send) => holder.session?.cancel(send) });
        const session = new ClientSession(
          outcome.socket as net.Socket,
          id,
          outcome.user.name,
          outcome.database,
          this.name,
          outcome.params,
          key,
          this.deps.sessionDeps(this.options.mode, this.name, {
            log,
            onClosed: (s) => {
              this.sessions.delete(s);
              this.deps.cancels.remove(key);
              this.deps.onSession(s, false);
            },
          }),
        );
        holder.session = session;
        this.sessions.add(session);
        this.deps.onSession(session, true);
        log.debug({ event: 'client-connected' }, 'client connected');
        void session.start(outcome.rest);
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.pending.delete(socket);
        if (err instanceof ProxyError && err.code === 'AUTH_FAILED') {
          this.authFailures++;
          this.deps.onAuthFailure();
          this.deps.log.warn({ event: 'auth-failed', listener: this.name }, err.message);
        } else if (err instanceof ProxyError) {
          this.deps.log.info({ event: 'startup-rejected', code: err.code, listener: this.name }, err.message);
        }
      },
    );
  }

  /**
   * Stop accepting; existing clients go on. net.Server.close() calls back only once every
   * connection has closed, so we do not wait for it: draining is the caller's (timed) job.
   */
  stopAccepting(): Promise<void> {
    this.server?.close();
    for (const s of this.pending) s.destroy();
    return Promise.resolve();
  }

  /** Ask every session to leave at its next idle point. */
  drain(): void {
    for (const s of this.sessions) s.drain();
  }

  destroyAll(): void {
    for (const s of this.sessions)
      s.fail(
        new ProxyError(
          'SHUTDOWN',
          SqlState.AdminShutdown,
          'terminating connection due to administrator command',
          'FATAL',
        ),
      );
  }
}
