// One connection from the proxy to a PostgreSQL instance: connect, authenticate, then relay framed messages.

import type net from 'node:net';
import { serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { md5Response } from '../auth/md5.js';
import { ScramClient } from '../auth/scram-client.js';
import { ReplyQueue } from '../reply-queue.js';
import { Backend, type TxStatus } from '../wire/codes.js';
import { Disposition, type FrameHandler, Framer } from '../wire/framer.js';
import { onReads } from '../wire/read-buffer.js';
import { SocketWriter } from '../wire/socket-writer.js';
import { ServerConnectError, type ServerConnectOptions } from './connect-options.js';
import { negotiateTls, openSocket, readPeerEndPoint } from './server-socket.js';

/** PgBouncer's server states, in our words. */
export type ServerState = 'login' | 'idle' | 'active' | 'closed';

/** The client session currently using this connection receives its traffic through a sink. */
export interface ServerSink {
  dispose(type: number, length: number): Disposition;
  /**
   * A whole message, `chunk[start, end)`. The range may be kept past the call; the chunk's bytes are
   * reused for a later read only if `hasReleasedServerBytes` says nothing of them is left.
   */
  onServerMessage(type: number, chunk: Buffer, start: number, end: number): void;
  onServerBytes(chunk: Buffer, start: number, end: number): void;
  onServerChunkEnd(): void;
  /** After onServerChunkEnd: true when no byte of the chunk is still queued or kept anywhere. */
  hasReleasedServerBytes(): boolean;
  onServerClosed(conn: ServerConnection, error: Error | null): void;
}

let nextServerId = 1;

function hasReleased(sink: ServerSink | null): boolean {
  return sink === null || sink.hasReleasedServerBytes();
}

export class ServerConnection implements FrameHandler {
  readonly id = nextServerId++;
  state: ServerState = 'login';
  /** Values the server reported with ParameterStatus, by lower-case name. */
  readonly reported = new Map<string, { name: string; value: string }>();
  /** Settings the proxy applied on top of the server defaults (set_config), by lower-case name. */
  readonly applied = new Map<string, string>();
  /** Server-side names of the prepared statements this connection holds, least recently used first. */
  readonly prepared = new Map<string, true>();
  /**
   * The name last added to or moved to the end of `prepared`: while it is still in the map, it is
   * the most recently used one. Only request-writer adds names.
   */
  newestPrepared: string | null = null;
  readonly queue = new ReplyQueue();
  txStatus: TxStatus = 'I';
  backendPid = 0;
  backendSecret = 0;
  readonly createdAt: number;
  lastUsedAt: number;
  /** Set when the connection must not be reused (protocol desync, fatal error, lifetime exceeded). */
  isBroken = false;
  bytesIn = 0;
  bytesOut = 0;
  /** SASL mechanism the login used ('SCRAM-SHA-256-PLUS' when bound to the TLS channel), else null. */
  saslMechanism: string | null = null;
  private sink: ServerSink | null = null;
  private readonly framer: Framer;
  /** Set when the login is done and the connection relays (see SocketWriter). */
  private writer: SocketWriter | null = null;

  private constructor(
    private readonly socket: net.Socket,
    readonly instanceId: string,
    readonly host: string,
    readonly port: number,
    now: number,
    maxMessageSize: number,
  ) {
    this.createdAt = now;
    this.lastUsedAt = now;
    this.framer = new Framer(this, maxMessageSize);
  }

  static async connect(opts: ServerConnectOptions, now: number): Promise<ServerConnection> {
    const instanceId = `${opts.host}:${opts.port}`;
    let socket = await openSocket(opts);
    try {
      socket = await negotiateTls(socket, opts);
      const conn = new ServerConnection(socket, instanceId, opts.host, opts.port, now, opts.maxMessageSize);
      await conn.login(opts);
      return conn;
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  get isAttached(): boolean {
    return this.sink !== null;
  }

  /** True when the connection can go back to the pool: idle, nothing owed, not broken. */
  get isClean(): boolean {
    return !this.isBroken && this.state !== 'closed' && this.queue.isEmpty && this.txStatus === 'I';
  }

  attach(sink: ServerSink): void {
    this.sink = sink;
    this.state = 'active';
  }

  detach(now: number): void {
    this.sink = null;
    this.lastUsedAt = now;
    if (this.state !== 'closed') this.state = 'idle';
  }

  write(data: Buffer): boolean {
    this.bytesOut += data.length;
    return this.writer === null ? this.socket.write(data) : this.writer.write(data);
  }

  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  onDrain(fn: () => void): void {
    this.socket.once('drain', fn);
  }

  /** Send Terminate and close (graceful). */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.socket.end(serialize.end());
  }

  destroy(): void {
    if (this.state === 'closed' && this.socket.destroyed) return;
    this.state = 'closed';
    this.socket.destroy();
  }

  // FrameHandler, while in relay mode.
  dispose(type: number, length: number): Disposition {
    if (this.sink) return this.sink.dispose(type, length);
    return Disposition.Whole;
  }

  onMessage(type: number, chunk: Buffer, start: number, end: number): void {
    if (type === Backend.ParameterStatus) this.recordParameterStatus(chunk.subarray(start, end));
    else if (type === Backend.ReadyForQuery)
      this.txStatus = String.fromCharCode(chunk[start + 5]!) as TxStatus;
    if (this.sink) {
      this.sink.onServerMessage(type, chunk, start, end);
      return;
    }
    // Idle in the pool: only asynchronous messages may arrive. An ErrorResponse here is FATAL
    // (administrator shutdown, idle timeout); anything else means we lost track of the protocol.
    if (
      type !== Backend.ParameterStatus &&
      type !== Backend.NoticeResponse &&
      type !== Backend.NotificationResponse
    ) {
      this.isBroken = true;
    }
  }

  onForward(chunk: Buffer, start: number, end: number): void {
    this.sink?.onServerBytes(chunk, start, end);
  }

  private recordParameterStatus(msg: Buffer): void {
    const nameEnd = msg.indexOf(0, 5);
    const valueEnd = msg.indexOf(0, nameEnd + 1);
    if (nameEnd < 0 || valueEnd < 0) return;
    const name = msg.toString('utf8', 5, nameEnd);
    this.reported.set(name.toLowerCase(), { name, value: msg.toString('utf8', nameEnd + 1, valueEnd) });
  }

  private startRelay(): void {
    this.state = 'idle';
    this.writer = new SocketWriter(this.socket);
    onReads(this.socket, (chunk) => {
      this.bytesIn += chunk.length;
      // The sink may detach inside push (ReadyForQuery releases us); it still owes its client a flush.
      const sink = this.sink;
      try {
        this.framer.push(chunk);
      } catch (err) {
        this.isBroken = true;
        this.fail(err as Error);
        return false;
      }
      sink?.onServerChunkEnd();
      // The chunk's bytes take the next read only if neither the sink the read started with nor one
      // that attached meanwhile (a waiting client gets us at ReadyForQuery) kept any of them. Idle,
      // only parameter values arrive, and they are kept as strings.
      return hasReleased(sink) && (this.sink === sink || hasReleased(this.sink));
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(null));
  }

  private fail(err: Error | null): void {
    const wasClosed = this.state === 'closed';
    this.state = 'closed';
    this.isBroken = true;
    if (!this.socket.destroyed) this.socket.destroy();
    const sink = this.sink;
    this.sink = null;
    if (sink) sink.onServerClosed(this, err);
    else if (!wasClosed) this.onIdleClosed?.(this);
  }

  /** Set by the pool: an idle connection died. */
  onIdleClosed: ((conn: ServerConnection) => void) | null = null;

  private login(opts: ServerConnectOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      const parser = new Parser();
      let scram: ScramClient | null = null;
      const timer = setTimeout(
        () => finish(new ServerConnectError('SERVER_LOGIN_TIMEOUT', `login to ${this.instanceId} timed out`)),
        opts.connectTimeoutMs,
      );
      const finish = (err: Error | null): void => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        this.socket.off('error', onError);
        this.socket.off('close', onClose);
        if (err) reject(err);
        else {
          this.startRelay();
          resolve();
        }
      };
      const onMessage = (m: BackendMessage): void => {
        const msg = m as BackendMessage & Record<string, unknown>;
        switch (m.name) {
          case 'authenticationOk':
            return;
          case 'authenticationCleartextPassword':
            if (opts.password === null) {
              finish(noPassword(this.instanceId, opts.user));
              return;
            }
            this.socket.write(serialize.password(opts.password));
            return;
          case 'authenticationMD5Password':
            if (opts.password === null) {
              finish(noPassword(this.instanceId, opts.user));
              return;
            }
            this.socket.write(
              serialize.password(
                md5Response({ user: opts.user, password: opts.password }, msg.salt as Buffer),
              ),
            );
            return;
          case 'authenticationSASL': {
            if (opts.password === null) {
              finish(noPassword(this.instanceId, opts.user));
              return;
            }
            // Over TLS, bind to the server's certificate (SCRAM-SHA-256-PLUS) when it offers that,
            // as libpq's channel_binding=prefer does: a man in the middle then cannot relay the login.
            scram = new ScramClient({
              password: opts.password,
              channelBinding: readPeerEndPoint(this.socket),
            });
            const first = scram.start(msg.mechanisms as string[]);
            this.saslMechanism = first.mechanism;
            this.socket.write(serialize.sendSASLInitialResponseMessage(first.mechanism, first.clientFirst));
            return;
          }
          case 'authenticationSASLContinue':
            if (!scram) {
              finish(new ServerConnectError('SERVER_AUTH_PROTOCOL', 'unexpected SASLContinue'));
              return;
            }
            this.socket.write(
              serialize.sendSCRAMClientFinalMessage(scram.handleServerFirst(msg.data as string)),
            );
            return;
          case 'authenticationSASLFinal':
            if (!scram) {
              finish(new ServerConnectError('SERVER_AUTH_PROTOCOL', 'unexpected SASLFinal'));
              return;
            }
            scram.handleServerFinal(msg.data as string);
            return;
          case 'parameterStatus': {
            const name = msg.parameterName as string;
            this.reported.set(name.toLowerCase(), { name, value: msg.parameterValue as string });
            return;
          }
          case 'backendKeyData':
            this.backendPid = msg.processID as number;
            this.backendSecret = msg.secretKey as number;
            return;
          case 'readyForQuery': {
            finish(null);
            return;
          }
          case 'error': {
            const e = m as unknown as { message: string; code: string; severity: string };
            finish(new ServerConnectError('SERVER_REFUSED', e.message, e.code, e.severity));
            return;
          }
          case 'notice':
            return;
          default: {
            finish(new ServerConnectError('SERVER_AUTH_PROTOCOL', `unexpected ${m.name} during login`));
            return;
          }
        }
      };
      const onData = (chunk: Buffer): void => {
        try {
          parser.parse(chunk, onMessage);
        } catch (err) {
          finish(err as Error);
        }
      };
      const onError = (err: Error): void => finish(new ServerConnectError('SERVER_IO', err.message));
      const onClose = (): void =>
        finish(
          new ServerConnectError('SERVER_CLOSED', `${this.instanceId} closed the connection during login`),
        );
      this.socket.on('data', onData);
      this.socket.on('error', onError);
      this.socket.on('close', onClose);
      this.socket.write(
        serialize.startup({ user: opts.user, database: opts.database, ...(opts.params ?? {}) }),
      );
    });
  }
}

function noPassword(instance: string, user: string): ServerConnectError {
  return new ServerConnectError(
    'SERVER_AUTH_NO_PASSWORD',
    `${instance} asks a password for "${user}" and none is configured`,
  );
}
