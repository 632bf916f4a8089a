// One client after authentication: batches requests, borrows server connections, relays replies, keeps session state.

import type net from 'node:net';
import { startsTransactionBlock } from '../router/policy.js';
import { ClientMessage } from './client-message.js';
import { ProxyError, type ServerErrorInfo, SqlState } from './errors.js';
import { answerKnownParses } from './known-parses.js';
import { answerPgrouteCommand, isPgrouteCommand, mentionsPgroute } from './local-commands.js';
import { answerLostTransaction, type SessionRoute } from './lost-transaction.js';
import { pinReasonFor } from './pin-reason.js';
import { PoolWait, type PoolWaitOwner } from './pool-wait.js';
import { PreparedStatements } from './prepared-statements.js';
import { writeRequest } from './request-writer.js';
import { LoginParams } from './server/login-params.js';
import type { Pool } from './server/pool.js';
import type { ServerConnection } from './server/server-connection.js';
import { DRAIN_SHUTDOWN, isWriteRoute, RESET_QUERY, ServerRelay } from './server-relay.js';
import type { RouteRequest, SessionDeps } from './session-deps.js';
import { asProxyError, isUnreachable, MAX_CONNECT_RETRIES } from './session-errors.js';
import type { StatementInfo } from './session-types.js';
import { buildSettingsSync } from './settings-sync.js';
import { StatementMemory } from './statement-memory.js';
import { readyForQuery } from './wire/backend-messages.js';
import { Frontend } from './wire/codes.js';
import { Disposition, type FrameHandler, Framer } from './wire/framer.js';
import { buildQuery, readParse, readQuery } from './wire/frontend-messages.js';
import { onReads } from './wire/read-buffer.js';

export type {
  ClientState,
  PoolMode,
  RouteRequest,
  SessionDeps,
  SessionRouter,
} from './session-deps.js';

export class ClientSession extends ServerRelay implements PoolWaitOwner {
  readonly statements: PreparedStatements;
  readonly connectedAt: number;
  private abandon: (() => void) | null = null;
  private readonly framer: Framer;
  private batch: ClientMessage[] = [];
  private batchBytes = 0;
  private batchInfo: StatementInfo[] = [];
  private backlog: ClientMessage[] = [];
  private backlogBytes = 0;
  private isClientPaused = false;
  /** The pool wait of the request in flight, while it waits. */
  private wait: PoolWait | null = null;
  /** Classifies each message for routing, remembering recent statements (see StatementMemory). */
  private readonly memory: StatementMemory;

  constructor(
    socket: net.Socket,
    readonly id: number,
    readonly user: string,
    readonly database: string,
    listener: string,
    startupSettings: Map<string, string>,
    cancelKey: { pid: number; secret: number },
    deps: SessionDeps,
  ) {
    super(socket, listener, cancelKey, deps, startupSettings);
    this.routing.isReadOnlyByDefault = isOn(startupSettings.get('default_transaction_read_only'));
    this.statements = new PreparedStatements(deps.maxPreparedStatements);
    this.memory = new StatementMemory(deps, this.statements);
    const clientSide: FrameHandler = {
      dispose: (type) => this.disposeClient(type),
      onMessage: (type, chunk, start, end) => this.onClientMessage(type, chunk, start, end),
      onForward: (chunk, start, end) => this.toServer.pushRange(chunk, start, end),
    };
    this.framer = new Framer(clientSide, deps.maxMessageSize);
    this.connectedAt = deps.clock();
  }

  /** Finish the login with the parameters a real server reports, then start relaying. */
  async start(rest: Buffer): Promise<void> {
    try {
      const pool = await this.routeLogin();
      const key = LoginParams.keyOf(this.settings);
      const role = this.lastRoute?.kind === 'route' ? this.lastRoute.role : null;
      const known = pool.loginParams.get(key, role, this.deps.clock());
      if (known) {
        // A server accepted these settings before: answer as it did, without borrowing one.
        this.welcome(known);
        this.state = 'idle';
        this.deps.stats.loginsFromCache++;
      } else {
        this.loginKey = key;
        const conn = await pool.acquire();
        const err = await new Promise<ServerErrorInfo | null>((resolve) => {
          this.loginDone = resolve;
          this.attach(conn, []);
          if (conn.queue.isEmpty) this.finishLogin(null);
        });
        this.loginKey = null;
        if (err) throw new ProxyError('STARTUP_SETTING_REJECTED', err.code, err.message, 'FATAL');
        this.deps.stats.loginsFromServer++;
      }
    } catch (e) {
      this.fail(asProxyError(e, 'FATAL'));
      return;
    }
    onReads(this.socket, (chunk) => {
      this.onClientData(chunk);
      // Kept: requests hold views of their messages until answered (a failed read is sent again).
      return false;
    });
    this.socket.on('drain', () => this.server?.resume());
    this.socket.on('error', () => this.onClientGone());
    this.socket.on('close', () => this.onClientGone());
    this.socket.resume();
    if (rest.length > 0) this.onClientData(rest);
  }

  /** Client traffic. */
  private onClientData(chunk: Buffer): void {
    this.deps.turns.noteRead();
    this.deps.stats.bytesFromClients += chunk.length;
    try {
      this.framer.push(chunk);
    } catch (err) {
      this.fail(
        new ProxyError(
          'INVALID_MESSAGE',
          SqlState.ProtocolViolation,
          `pgroute: ${(err as Error).message}`,
          'FATAL',
        ),
      );
      return;
    }
    this.flushServer();
    if (!this.toClient.isEmpty) this.flushClient();
  }

  private disposeClient(type: number): Disposition {
    // COPY data goes straight through while a server is attached; everything else is inspected.
    return type === Frontend.CopyData && this.server && this.backlog.length === 0
      ? Disposition.Stream
      : Disposition.Whole;
  }

  private onClientMessage(type: number, chunk: Buffer, start: number, end: number): void {
    if (this.state === 'closed') return;
    const m = new ClientMessage(type, chunk, start, end);
    if (this.state === 'waiting' || this.backlog.length > 0 || this.isLearningLsn) {
      this.backlog.push(m);
      this.backlogBytes += m.length;
      if (this.backlogBytes > this.deps.maxPendingBytes) this.pauseClient();
      return;
    }
    this.handle(m);
  }

  private handle(m: ClientMessage): void {
    const type = m.type;
    // A Query of the session's last shape is answered from its bytes (never a local command: those
    // are not remembered). Otherwise decoded once: local commands, logging and classification all
    // read the same text.
    const shaped = type === Frontend.Query && !this.deps.logStatements ? this.memory.shapeOf(m.msg) : null;
    const sql = type === Frontend.Query && shaped === null ? readQuery(m.msg) : null;
    if (this.deps.logStatements && (sql !== null || type === Frontend.Parse)) {
      this.deps.log.info(
        {
          event: 'statement',
          protocol: sql !== null ? 'simple' : 'extended',
          sql: sql ?? readParse(m.msg).query,
        },
        'statement',
      );
    }
    if (type === Frontend.Terminate) {
      this.close();
      return;
    }
    if (sql !== null && this.batch.length === 0 && this.answerLocalCommand(sql)) return;
    if (this.server) {
      // A Query is classified here, with the session's memory of its last one, not again when written.
      const known = type === Frontend.Query ? (shaped ?? this.memory.describe(m, sql)) : undefined;
      this.forward(m, known);
      return;
    }
    if (type === Frontend.CopyData || type === Frontend.CopyDone || type === Frontend.CopyFail) {
      return; // Not in COPY: PostgreSQL ignores these too (postgres.c, "Accept but ignore").
    }
    if (type === Frontend.Sync && this.batch.length === 0) {
      this.toClient.push(readyForQuery(this.txStatus));
      return;
    }
    const info = shaped ?? this.memory.describe(m, sql);
    m.info = info;
    if (type === Frontend.Query && this.batch.length === 0) {
      // A lone Query, the simple protocol's whole request: exact-size arrays instead of growing the
      // batch ones (a first push reserves room for 17 elements, on every request).
      this.dispatchRequest([m], info ? [info] : []);
      return;
    }
    if (info) this.batchInfo.push(info);
    this.batch.push(m);
    this.batchBytes += m.length;
    const isComplete =
      type === Frontend.Sync ||
      type === Frontend.Query ||
      type === Frontend.FunctionCall ||
      type === Frontend.Flush;
    if (isComplete || this.batchBytes > this.deps.maxPendingBytes) this.dispatch();
  }

  /** A complete request and no server: find one, then send. */
  private dispatch(): void {
    const batch = this.batch;
    const infos = this.batchInfo;
    this.batch = [];
    this.batchInfo = [];
    this.batchBytes = 0;
    this.dispatchRequest(batch, infos);
  }

  private dispatchRequest(batch: ClientMessage[], infos: StatementInfo[]): void {
    if (this.isTxLost) {
      answerLostTransaction(this as SessionRoute, batch, infos, this.toClient);
      return;
    }
    if (answerKnownParses(batch, this.txStatus, this.deps.knownStatements, this.statements, this.toClient)) {
      this.deps.stats.answeredLocally++;
      return;
    }
    this.requestStartedAt = this.deps.monotonic();
    this.send(batch, infos, 0);
  }

  /** Route a request and send it; `attempt` counts retries after a server failed before answering. */
  protected send(batch: ClientMessage[], infos: StatementInfo[], attempt: number): void {
    const req: RouteRequest = { kind: 'batch', statements: infos, session: this };
    let routed: Pool | Promise<Pool>;
    try {
      routed = this.deps.router.route(req);
    } catch (err) {
      this.failBatch(batch, asProxyError(err, 'ERROR'));
      return;
    }
    const startsBlock = startsTransactionBlock(infos);
    const isRead =
      this.lastRoute?.kind === 'route' &&
      this.lastRoute.role === 'standby' &&
      this.txStatus === 'I' &&
      !startsBlock;
    this.inflight = { batch, infos, attempt, isRead, hasAnswered: false };
    if (routed instanceof Promise) {
      // The router holds the request (no primary yet): wait for a pool, then for a connection.
      this.state = 'waiting';
      routed.then(
        (pool) => {
          this.abandon = null;
          if (this.state !== 'waiting') return;
          this.waitFor(pool);
          // Attached at once: what the client sent during the hold goes out now, behind the request.
          if (!this.isWaiting) this.drainBacklog();
        },
        (err: unknown) => {
          this.abandon = null;
          if (this.state === 'waiting') this.onPoolFailure(err as Error);
        },
      );
      return;
    }
    this.waitFor(routed);
  }

  /** Read through a getter: the callers check it again after calls that may change it. */
  private get isWaiting(): boolean {
    return this.state === 'waiting';
  }

  /** A connection from `pool` for the request in flight: at once if one is idle, else when one frees up. */
  private waitFor(pool: Pool): void {
    this.pool = pool;
    // The common case, an idle connection at once, needs no wait object.
    const idle = pool.tryAcquire();
    if (idle) {
      this.attach(idle, this.inflight!.batch);
      return;
    }
    const wait = new PoolWait(pool, this);
    const conn = pool.acquireFor(wait);
    if (conn) {
      this.attach(conn, this.inflight!.batch);
      return;
    }
    // The client is not paused: what it sends meanwhile waits in the backlog, which pauses it when full.
    this.state = 'waiting';
    this.wait = wait;
  }

  /** PoolWaitOwner: the connection this session waited for. */
  onPoolConnection(conn: ServerConnection): void {
    this.wait = null;
    const now = this.deps.monotonic();
    this.deps.stats.poolWait.observe((now - this.requestStartedAt) / 1000);
    this.requestStartedAt = now;
    this.attach(conn, this.inflight!.batch);
    this.flushServer();
    this.drainBacklog();
  }

  /** PoolWaitOwner: no connection (timeout, queue full, instance unreachable, cancel). */
  onPoolFailure(err: Error): void {
    this.wait = null;
    if (this.state === 'closed') return;
    this.state = 'idle';
    const inflight = this.inflight!;
    // Nothing reached a server: safe to route again (the failed instance is now suspect), reads
    // and writes alike; a write then waits for a primary instead of failing.
    if (isUnreachable(err) && inflight.attempt < MAX_CONNECT_RETRIES) {
      this.send(inflight.batch, inflight.infos, inflight.attempt + 1);
      if (!this.isWaiting) this.drainBacklog();
      return;
    }
    this.inflight = null;
    this.failBatch(inflight.batch, asProxyError(err, 'ERROR'));
    this.flushClient();
    this.drainBacklog();
  }

  /** The pool the login goes to; its wait for a primary ends early if the client goes away. */
  private async routeLogin(): Promise<Pool> {
    const req: RouteRequest = { kind: 'login', statements: [], session: this };
    const pool = await Promise.resolve(this.deps.router.route(req)).finally(() => {
      this.abandon = null;
    });
    this.pool = pool;
    return pool;
  }

  /** SET/SHOW pgroute.*: answered here, in order with anything still owed by an attached server. */
  private answerLocalCommand(sql: string): boolean {
    if (!mentionsPgroute(sql)) return false;
    const info = this.deps.classifier.classify(sql);
    if (!isPgrouteCommand(sql, info)) return false;
    // Answered in turn: after anything an attached server still owes (a SHOW pgroute.last_lsn must
    // see the LSN being learned right now), so the reply is computed when it reaches the head.
    const answer = (): Buffer =>
      Buffer.concat([...(answerPgrouteCommand(sql, info, this) ?? []), readyForQuery(this.txStatus)]);
    const conn = this.server;
    if (conn && !conn.queue.isEmpty) conn.queue.push({ kind: 'fake', reply: answer });
    else this.toClient.push(answer());
    this.deps.stats.answeredLocally++;
    return true;
  }

  /** Answer a batch that could not get a server: one error, then ReadyForQuery per Sync/Query. */
  private failBatch(batch: ClientMessage[], err: ProxyError): void {
    this.deps.stats.countError(err.sqlState, 'proxy');
    this.toClient.push(err.toMessage());
    for (const m of batch) {
      if (m.type === Frontend.Sync || m.type === Frontend.Query || m.type === Frontend.FunctionCall) {
        this.toClient.push(readyForQuery(this.txStatus));
      }
    }
  }

  protected drainBacklog(): void {
    while (
      this.backlog.length > 0 &&
      this.state !== 'waiting' &&
      this.state !== 'closed' &&
      !this.isLearningLsn
    ) {
      const m = this.backlog.shift()!;
      this.backlogBytes -= m.length;
      this.handle(m);
    }
    this.flushServer();
    if (!this.toClient.isEmpty) this.flushClient();
    if (this.state !== 'waiting') this.resumeClient();
  }

  private attach(conn: ServerConnection, batch: ClientMessage[]): void {
    this.server = conn;
    if (this.deps.readYourWrites && isWriteRoute(this.lastRoute)) this.needsLsn = true;
    this.state = this.state === 'login' ? 'login' : 'active';
    conn.attach(this);
    const sync = buildSettingsSync(conn.applied, this.settings);
    if (sync) {
      conn.queue.push({ kind: 'query', forward: false });
      this.toServer.push(buildQuery(sync));
      conn.applied.clear();
      for (const [k, v] of this.settings) conn.applied.set(k, v);
    }
    for (const m of batch) this.forward(m, m.info);
    this.flushServer();
  }

  /** Send one client message to the attached server, renaming prepared statements and recording owed replies. */
  private forward(m: ClientMessage, known?: StatementInfo | null): void {
    const r = writeRequest(this.server!, this.statements, this.deps.classifier, this.toServer, m, known);
    if (r.kind === 'error') {
      this.fail(r.error);
      return;
    }
    if (r.info) {
      this.notePin(r.info, r.isExtended);
      if (r.info.reason === 'ddl') this.sawDdl = true;
    }
    if (r.hasFake) this.emitFakes();
  }

  /** Transaction pooling cannot move a session that holds server-side state: keep its server. */
  private notePin(info: StatementInfo, isExtended: boolean): void {
    if (this.pinReason || this.deps.poolMode === 'session') return;
    const reason = pinReasonFor(info, isExtended);
    if (reason) {
      this.pinReason = reason;
      this.deps.stats.countPin(reason);
      this.deps.log.info({ event: 'pinned', reason }, 'session pinned to its server connection');
    }
  }

  /** Called by a router holding this session's request, so a cancel or a disconnect can end the wait. */
  onAbandon(fn: () => void): void {
    this.abandon = fn;
  }

  /** Cancel what this client is running (CancelRequest from another connection). */
  cancel(sendCancel: (host: string, port: number, pid: number, secret: number) => void): void {
    if (this.server) {
      sendCancel(this.server.host, this.server.port, this.server.backendPid, this.server.backendSecret);
    } else if (this.abandon) {
      const a = this.abandon;
      this.abandon = null;
      a();
    } else if (this.wait) {
      this.wait.abandon();
      this.onPoolFailure(
        new ProxyError('CANCELED', SqlState.QueryCanceled, 'canceling statement due to user request'),
      );
    }
  }

  /** Graceful shutdown: idle clients leave now, the others after their transaction. */
  drain(): void {
    this.isDraining = true;
    if (this.state === 'idle' && !this.server) this.fail(DRAIN_SHUTDOWN);
  }

  protected pauseClient(): void {
    if (!this.isClientPaused) {
      this.isClientPaused = true;
      this.socket.pause();
    }
  }

  protected resumeClient(): void {
    if (this.isClientPaused && this.state !== 'waiting') {
      this.isClientPaused = false;
      this.socket.resume();
    }
  }

  /** Send a final error and close. */
  fail(err: ProxyError): void {
    if (this.state === 'closed') return;
    this.deps.stats.countError(err.sqlState, 'proxy');
    this.toClient.push(err.toMessage());
    this.flushClient();
    // Close for good once the error is out: a client that never reads again (its socket may still be
    // paused from the startup phase) must not keep the connection open.
    this.socket.end(() => this.socket.destroy());
    this.close();
  }

  /** Close the client; its server goes back to the pool if clean, else it is closed. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.abandon?.();
    this.abandon = null;
    this.wait?.abandon();
    this.wait = null;
    const conn = this.server;
    if (conn) {
      const isReusable =
        conn.queue.isEmpty &&
        conn.txStatus === 'I' &&
        !this.pinReason &&
        this.deps.poolMode === 'transaction';
      if (isReusable) this.maybeRelease();
      else if (conn.queue.isEmpty && conn.txStatus === 'I' && !conn.isBroken) {
        // Session state (session mode, or a pinned session): reset it with DISCARD ALL, as PgBouncer's
        // server_reset_query does, and release the connection when the reset completes.
        this.isResetting = true;
        conn.queue.push({ kind: 'query', forward: false });
        this.toServer.push(RESET_QUERY);
        this.flushServer();
      } else {
        // An unfinished transaction or owed replies: nobody else may get this connection.
        conn.detach(this.deps.clock());
        this.server = null;
        conn.isBroken = true;
        this.pool?.release(conn);
      }
    }
    if (!this.socket.destroyed) {
      // Replies left for the end of the turn (see TurnBatcher) still go out before the end.
      if (!this.toClient.isEmpty) this.flushClient();
      this.socket.end();
    }
    this.deps.onClosed(this);
  }

  private onClientGone(): void {
    if (this.state === 'closed') return;
    this.close();
    this.socket.destroy();
  }
}

function isOn(v: string | undefined): boolean {
  return v !== undefined && ['on', 'true', 'yes', '1'].includes(v.toLowerCase());
}
