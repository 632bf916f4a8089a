// Pull-style reader over a socket for the startup phase: "give me the next packet" with size caps.

import type { Duplex } from 'node:stream';
import { ProxyError, SqlState } from './errors.js';

/** Reads whole packets from a socket during the startup and authentication exchange. */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private ended: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.wake();
  };
  private readonly onEnd = (): void => {
    this.ended ??= new ClientGoneError();
    this.wake();
  };

  constructor(private socket: Duplex) {
    this.listen();
  }

  /** Bytes received but not consumed (a client may pipeline its first query after authenticating). */
  takeRest(): Buffer {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  get hasBuffered(): boolean {
    return this.buf.length > 0;
  }

  /** Stop reading from the current socket (before a TLS upgrade) and read from `socket` instead. */
  switchTo(socket: Duplex): void {
    this.unlisten();
    this.socket.pause();
    this.socket = socket;
    this.listen();
  }

  /** Stop listening; the socket is paused so no byte is lost before the next reader attaches. */
  detach(): void {
    this.unlisten();
    this.socket.pause();
  }

  /** An untyped packet: int32 length (including itself), then the body. Returns the whole packet. */
  async untyped(maxLength: number): Promise<Buffer> {
    await this.fill(4);
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > maxLength) {
      throw new ProxyError(
        'INVALID_STARTUP_PACKET',
        SqlState.ProtocolViolation,
        `invalid length of startup packet: ${len}`,
        'FATAL',
      );
    }
    await this.fill(len);
    return this.take(len);
  }

  /** A typed message: type byte, int32 length. Returns the whole message. */
  async typed(maxLength: number): Promise<Buffer> {
    await this.fill(5);
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > maxLength) {
      throw new ProxyError(
        'INVALID_MESSAGE_LENGTH',
        SqlState.ProtocolViolation,
        `invalid message length ${len}`,
        'FATAL',
      );
    }
    await this.fill(len + 1);
    return this.take(len + 1);
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async fill(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  private listen(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onEnd);
  }

  private unlisten(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
  }
}

export class ClientGoneError extends Error {
  readonly code = 'CLIENT_GONE';
  constructor() {
    super('client closed the connection');
  }
}
