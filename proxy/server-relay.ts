// The server side of a client session: relays replies, answers what the proxy owes itself, releases servers.

import type net from 'node:net';
import { parseLsn } from '../discovery/lsn.js';
import type { RouteDecision, RoutingSession } from '../router/policy.js';
import type { ClientMessage } from './client-message.js';
import { ProxyError, readErrorFields, type ServerErrorInfo, SqlState } from './errors.js';
import { Outbox } from './outbox.js';
import type { Owed } from './reply-queue.js';
import type { ReportedParam } from './server/login-params.js';
import type { Pool } from './server/pool.js';
import type { ServerConnection, ServerSink } from './server/server-connection.js';
import type { ClientState, SessionDeps } from './session-deps.js';
import { type StatementInfo, TRACKED_REPORTED } from './session-types.js';
import type { TurnFlushable } from './turn-batcher.js';
import { backendKeyData, errorResponse, parameterStatus, readyForQuery } from './wire/backend-messages.js';
import { Backend, type TxStatus } from './wire/codes.js';
import { Disposition } from './wire/framer.js';
import { buildQuery } from './wire/frontend-messages.js';
import { SocketWriter } from './wire/socket-writer.js';

const DRAIN_SHUTDOWN = new ProxyError(
  'SHUTDOWN',
  SqlState.AdminShutdown,
  'terminating connection due to administrator command',
  'FATAL',
);

/** Primary routes that are not writes: no LSN to learn after them. */
const NON_WRITE_PRIMARY = new Set(['read-your-writes', 'no-eligible-standby', 'login']);

/** PgBouncer's server_reset_query: what a session-mode or pinned server runs before reuse. */
const RESET_QUERY = buildQuery('DISCARD ALL');

/**
 * The insert position, not pg_current_wal_lsn(): with synchronous_commit off, COMMIT returns before
 * its record is written, so the write position can still be behind the commit we must wait for.
 */
const LSN_QUERY = buildQuery('SELECT pg_catalog.pg_current_wal_insert_lsn()');

/** True for a primary route that may have written (read-your-writes must learn its LSN). */
export function isWriteRoute(r: RouteDecision | null): boolean {
  return r?.kind === 'route' && r.role === 'primary' && !NON_WRITE_PRIMARY.has(r.reason);
}

export { DRAIN_SHUTDOWN, RESET_QUERY };

export abstract class ServerRelay implements ServerSink, TurnFlushable {
  state: ClientState = 'login';
  /** The transaction status the client last saw in ReadyForQuery. */
  txStatus: TxStatus = 'I';
  /** Why this session keeps its server connection for good (transaction pooling only). */
  pinReason: string | null = null;
  /** The server died inside the client's transaction block; we answer until ROLLBACK. */
  isTxLost = false;
  /** The server's last words (e.g. 57P01) when it died while the client was between requests. */
  lostError: Buffer | null = null;
  /** The client's session settings (startup parameters and replayable SETs), by lower-case name. */
  readonly settings: Map<string, string>;
  server: ServerConnection | null = null;
  /** Routing state: SET pgroute.target, read-only default, read-your-writes LSN. */
  readonly routing: RoutingSession = {
    target: null,
    isReadOnlyByDefault: false,
    minLsn: null,
    isLsnUnknown: false,
  };
  /** The last routing decision, for SHOW and logs. */
  lastRoute: RouteDecision | null = null;
  /** The request on its way, kept until its first reply so a failed read can go elsewhere. */
  protected inflight: {
    batch: ClientMessage[];
    infos: StatementInfo[];
    attempt: number;
    isRead: boolean;
    hasAnswered: boolean;
  } | null = null;
  /** DDL went to the server: once it is committed, functions may have changed. */
  protected sawDdl = false;
  /** The client left a session-mode or pinned connection: DISCARD ALL is running on it. */
  protected isResetting = false;
  /**
   * The server is held only for the proxy's own LSN query: the client's next request waits for it
   * and is then routed afresh, instead of riding along on a primary that may be failing.
   */
  isLearningLsn = false;
  /** A write ran on the attached primary: learn its LSN before letting the server go. */
  protected needsLsn = false;
  /** When the current request went to a server (monotonic ms), for the duration histogram. */
  protected requestStartedAt = 0;
  protected pool: Pool | null = null;
  protected readonly toClient = new Outbox();
  protected readonly toServer = new Outbox();
  /** Writes to the client socket (see SocketWriter). */
  private readonly clientWriter: SocketWriter;
  protected sawError = false;
  protected skippedError: ServerErrorInfo | null = null;
  protected loginDone: ((err: ServerErrorInfo | null) => void) | null = null;
  /** The startup settings' key in the pool's login cache, while a server runs the login. */
  protected loginKey: string | null = null;
  protected isDraining = false;
  /** Replies wait in toClient for the end of the event-loop turn (see TurnBatcher). */
  private isTurnFlushPending = false;

  constructor(
    protected readonly socket: net.Socket,
    readonly listener: string,
    readonly cancelKey: { pid: number; secret: number },
    protected readonly deps: SessionDeps,
    startupSettings: Map<string, string>,
  ) {
    this.settings = new Map(startupSettings);
    this.clientWriter = new SocketWriter(socket);
  }

  /** Route a request and send it (the client side implements routing). */
  protected abstract send(batch: ClientMessage[], infos: StatementInfo[], attempt: number): void;
  /** Process client messages that arrived while the session waited. */
  protected abstract drainBacklog(): void;
  /** Send a final error and close. */
  abstract fail(err: ProxyError): void;
  /** Backpressure on the client socket. */
  protected abstract pauseClient(): void;
  protected abstract resumeClient(): void;

  protected finishLogin(err: ServerErrorInfo | null): void {
    const done = this.loginDone;
    this.loginDone = null;
    const conn = this.server!;
    if (!err) {
      if (this.loginKey !== null)
        this.pool?.loginParams.remember(this.loginKey, conn.reported.values(), this.deps.clock());
      this.welcome(conn.reported.values());
      this.state = 'active';
      this.maybeRelease();
    }
    done?.(err);
  }

  /** The end of a login: the server's parameters, the proxy's cancel key, ready for queries. */
  protected welcome(params: Iterable<ReportedParam>): void {
    for (const { name, value } of params) this.toClient.push(parameterStatus(name, value));
    this.toClient.push(backendKeyData(this.cancelKey.pid, this.cancelKey.secret));
    this.toClient.push(readyForQuery('I'));
    this.flushClient();
  }

  protected flushClient(): boolean {
    this.deps.stats.bytesToClients += this.toClient.bytes;
    return this.toClient.flush(this.clientWriter);
  }

  /**
   * When the loop is busy, relayed replies wait for the end of the turn (see TurnBatcher); returns
   * false when they are to be written now. Waiting, they stay ranges of the server's read buffer,
   * which hasReleasedServerBytes then keeps from being read into again.
   */
  private deferReplies(): boolean {
    if (!this.deps.turns.isBusy) return false;
    if (!this.isTurnFlushPending) {
      this.isTurnFlushPending = true;
      this.deps.turns.defer(this);
    }
    return true;
  }

  /** TurnFlushable: the end of the turn. */
  flushTurn(): void {
    this.isTurnFlushPending = false;
    if (this.toClient.isEmpty || this.state === 'closed') return;
    this.writeReplies();
  }

  /** Write the relayed replies; a client that cannot take them stops the attached server's reads. */
  private writeReplies(): void {
    if (!this.flushClient()) this.server?.pause();
  }

  protected emitFakes(): void {
    const queue = this.server?.queue;
    if (!queue?.hasFakeAtHead) return;
    const fakes: Buffer[] = [];
    queue.takeFakes(fakes);
    for (const f of fakes) this.toClient.push(f);
  }

  protected flushServer(): void {
    const conn = this.server;
    if (!conn || this.toServer.isEmpty) return;
    if (!this.toServer.flush(conn)) {
      this.pauseClient();
      conn.onDrain(() => this.resumeClient());
    }
  }

  // ServerSink: replies from the attached server.
  dispose(type: number): Disposition {
    if (type !== Backend.DataRow && type !== Backend.CopyData) return Disposition.Whole;
    const head = this.server?.queue.peek();
    return head && head.kind === 'query' && !head.forward ? Disposition.Whole : Disposition.Stream;
  }

  onServerMessage(type: number, chunk: Buffer, start: number, end: number): void {
    const conn = this.server!;
    const wasIdle = conn.queue.isEmpty;
    const head = conn.queue.peek();
    if (type === Backend.DataRow && head?.kind === 'query' && head.capturesLsn) {
      this.captureLsn(chunk.subarray(start, end));
    }
    // Read out at once: the queue reuses its answer object.
    const { forward, completed, failedParse } = conn.queue.onServerMessage(type);
    // Set when the proxy relays something other than the server's bytes.
    let replaced: Buffer | null = null;
    if (type === Backend.ErrorResponse) {
      const info = readErrorFields(chunk.subarray(start, end));
      if (info.severity === 'FATAL' || info.severity === 'PANIC') {
        // The client connection outlives this server connection: report it as an ERROR.
        replaced = errorResponse({ severity: 'ERROR', code: info.code, message: info.message });
        this.deps.onServerFailure(conn.instanceId, `server error ${info.code}`);
        if (wasIdle) {
          // Nothing was asked: an unsolicited error would break most drivers. Keep it as the
          // answer to the client's next request (the server is about to close).
          this.lostError = replaced;
          return;
        }
      }
      this.sawError = true;
      if (!forward) this.skippedError = info;
      else this.deps.stats.countError(info.code, 'server');
    }
    if (failedParse) conn.prepared.delete(failedParse);
    else if (type === Backend.ParseComplete && completed?.kind === 'parse' && completed.serverName) {
      this.deps.knownStatements.add(completed.serverName);
    }
    if (type === Backend.ParameterStatus && forward) this.trackReported(conn, chunk.subarray(start, end));
    if (forward && this.state !== 'closed') {
      if (replaced) this.toClient.push(replaced);
      else this.toClient.pushRange(chunk, start, end);
      if (this.inflight) this.inflight.hasAnswered = true;
    }
    if (completed?.kind === 'query' && completed.settings && !this.sawError)
      this.applySettings(conn, completed);
    if (type === Backend.ReadyForQuery) {
      if (forward) this.txStatus = String.fromCharCode(chunk[start + 5]!) as TxStatus;
      this.sawError = false;
      if (completed?.kind === 'query' && !completed.forward) {
        const err = this.skippedError;
        this.skippedError = null;
        if (this.loginDone) this.finishLogin(err);
        else if (err) this.deps.log.warn({ event: 'settings-sync-failed', code: err.code }, err.message);
      }
    }
    this.emitFakes();
    if (type === Backend.ReadyForQuery) {
      const learnedLsn = completed?.kind === 'query' && completed.capturesLsn === true;
      if (learnedLsn) this.isLearningLsn = false;
      this.maybeRelease();
      // Requests the client sent meanwhile were held (see isLearningLsn): route them now.
      if (learnedLsn) this.drainBacklog();
    }
  }

  onServerBytes(chunk: Buffer, start: number, end: number): void {
    if (this.state !== 'closed') this.toClient.pushRange(chunk, start, end);
    if (this.inflight) this.inflight.hasAnswered = true;
  }

  onServerChunkEnd(): void {
    this.deps.turns.noteRead();
    if (this.toClient.isEmpty || this.state === 'closed' || this.deferReplies()) return;
    this.writeReplies();
  }

  hasReleasedServerBytes(): boolean {
    // Every relayed range went to the client socket in this read; a chunk the kernel could not take
    // at once is kept by libuv or by the socket's stream, and then the bytes must stay.
    return this.toClient.isEmpty && this.clientWriter.isIdle;
  }

  onServerClosed(conn: ServerConnection, error: Error | null): void {
    // An LSN never learned: the held requests are routed afresh below (drainBacklog).
    this.isLearningLsn = false;
    const owed = conn.queue.clear();
    this.pool?.forget(conn);
    this.server = null;
    this.deps.onServerFailure(conn.instanceId, error ? error.message : 'connection closed');
    if (this.loginDone) {
      this.finishLogin({
        severity: 'FATAL',
        code: SqlState.ConnectionFailure,
        message: 'server closed the connection during login',
      });
      return;
    }
    if (this.state === 'closed') return;
    const inflight = this.inflight;
    this.inflight = null;
    if (inflight?.isRead && !inflight.hasAnswered && inflight.attempt === 0 && !this.sawError) {
      // An autocommit read whose standby failed before any byte reached the client: once more elsewhere.
      this.state = 'idle';
      this.send(inflight.batch, inflight.infos, 1);
      this.flushServer();
      return;
    }
    const wasInBlock = this.txStatus !== 'I';
    const lost = new ProxyError(
      'SERVER_LOST',
      SqlState.ConnectionFailure,
      `pgroute: lost the server connection to ${conn.instanceId}${error ? `: ${error.message}` : ''}`,
    ).toMessage();
    if (this.pinReason || this.deps.poolMode === 'session') {
      // Session state (LISTEN, temp tables, ...) died with the server: the client must reconnect.
      this.fail(
        new ProxyError(
          'SERVER_LOST',
          SqlState.ConnectionFailure,
          "pgroute: the server connection holding this session's state was lost",
          'FATAL',
        ),
      );
      return;
    }
    if (owed > 0) {
      if (!this.sawError) this.toClient.push(this.lostError ?? lost);
      this.lostError = null;
    } else if (wasInBlock) {
      this.lostError ??= lost;
    }
    if (wasInBlock) {
      this.isTxLost = true;
      this.txStatus = 'E';
    }
    for (let i = 0; i < owed; i++) this.toClient.push(readyForQuery(this.txStatus));
    this.sawError = false;
    this.state = 'idle';
    this.flushClient();
    this.drainBacklog();
  }

  protected trackReported(conn: ServerConnection, msg: Buffer): void {
    const nameEnd = msg.indexOf(0, 5);
    const name = msg.toString('utf8', 5, nameEnd).toLowerCase();
    if (!TRACKED_REPORTED.has(name)) return;
    const value = msg.toString('utf8', nameEnd + 1, msg.indexOf(0, nameEnd + 1));
    this.settings.set(name, value);
    conn.applied.set(name, value);
  }

  protected applySettings(conn: ServerConnection, entry: Extract<Owed, { kind: 'query' }>): void {
    for (const s of entry.settings ?? []) {
      if (s.name === 'all') {
        this.settings.clear();
        conn.applied.clear();
      } else if (s.value === null) {
        this.settings.delete(s.name);
        conn.applied.delete(s.name);
      } else {
        this.settings.set(s.name, s.value);
        conn.applied.set(s.name, s.value);
      }
    }
  }

  /** Transaction pooling: the server goes back at ReadyForQuery(I) with nothing owed. */
  protected maybeRelease(): void {
    const conn = this.server;
    if (!conn || this.loginDone) return;
    const canRelease =
      this.state === 'closed' ||
      (this.state !== 'login' && this.deps.poolMode === 'transaction' && !this.pinReason);
    if (!conn.queue.isEmpty) return;
    this.inflight = null;
    if (this.requestStartedAt > 0) {
      this.deps.stats.requestDuration.observe((this.deps.monotonic() - this.requestStartedAt) / 1000);
      this.requestStartedAt = 0;
    }
    if (conn.txStatus === 'I' && this.sawDdl) {
      this.sawDdl = false;
      this.deps.onDdl();
    }
    const route = this.lastRoute;
    if (conn.txStatus === 'I' && route?.kind === 'route' && route.reason !== 'login') {
      this.deps.stats.countTransaction(this.listener, route.role);
    }
    if (conn.txStatus === 'I' && this.needsLsn && this.state !== 'closed') {
      this.needsLsn = false;
      if (this.deps.router.knowsStandby()) {
        // The client already has its ReadyForQuery; asking for the LSN now costs it nothing, and a
        // request it sends meanwhile follows on this same primary connection.
        conn.queue.push({ kind: 'query', forward: false, capturesLsn: true });
        this.isLearningLsn = true;
        this.toServer.push(LSN_QUERY);
        this.flushServer();
        return;
      }
      // With no standby in the topology no read can be stale: skip the round trip and only note
      // that the last write has no known LSN. Should a standby appear later, the session's reads
      // stay on the primary until another write teaches it an LSN.
      this.routing.isLsnUnknown = true;
    }
    if (!canRelease || conn.txStatus !== 'I') return;
    if (this.isResetting) {
      // DISCARD ALL dropped every prepared statement and setting on the server.
      this.isResetting = false;
      conn.prepared.clear();
      conn.applied.clear();
    }
    // Replies still buffered for the client go out before the server can serve anyone else (or
    // stay ranges of its read buffer, which is then not reused: see hasReleasedServerBytes).
    // Never paused here: it is about to serve someone else.
    if (!this.toClient.isEmpty && this.state !== 'closed' && !this.deferReplies()) this.flushClient();
    conn.detach(this.deps.clock());
    this.server = null;
    this.pool!.release(conn);
    if (this.state !== 'closed') this.state = 'idle';
    if (this.isDraining && this.state === 'idle') this.fail(DRAIN_SHUTDOWN);
  }

  /** DataRow of `SELECT pg_current_wal_lsn()`: one text column. */
  protected captureLsn(msg: Buffer): void {
    if (msg.readInt16BE(5) !== 1) return;
    const len = msg.readInt32BE(7);
    if (len <= 0) return;
    try {
      const lsn = parseLsn(msg.toString('latin1', 11, 11 + len));
      if (this.routing.minLsn === null || lsn > this.routing.minLsn) this.routing.minLsn = lsn;
      // WAL positions only grow: this one covers any earlier write whose LSN was never asked for.
      this.routing.isLsnUnknown = false;
    } catch {
      // not an LSN: leave the session's causality point as it was
    }
  }
}
