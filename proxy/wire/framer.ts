// Finds message boundaries in a byte stream (type byte + int32 length) and hands out whole or streamed messages.

import { describeType } from './codes.js';

/** How the framer treats one message once its header is known. */
export enum Disposition {
  /** Hand the whole message to `onMessage` (it is buffered if it spans chunks). */
  Whole = 0,
  /** Pass the bytes to `onForward` as they arrive, without buffering the message. */
  Stream = 1,
}

export interface FrameHandler {
  /** Decide, from the header alone, how this message is delivered. */
  dispose(type: number, length: number): Disposition;
  /**
   * A complete message: `chunk[start, end)` holds the header and the body. Ranges instead of views:
   * most messages are relayed untouched, and a range costs no allocation until someone needs a Buffer.
   */
  onMessage(type: number, chunk: Buffer, start: number, end: number): void;
  /** Raw bytes `chunk[start, end)` of a streamed message, in order; header included. */
  onForward(chunk: Buffer, start: number, end: number): void;
}

export class MessageTooLargeError extends Error {
  readonly code = 'MESSAGE_TOO_LARGE';
  constructor(
    readonly type: number,
    readonly length: number,
    readonly limit: number,
  ) {
    super(`message ${describeType(type)} of ${length} bytes exceeds the limit of ${limit} bytes`);
  }
}

export class InvalidLengthError extends Error {
  readonly code = 'INVALID_LENGTH';
  constructor(
    readonly type: number,
    readonly length: number,
  ) {
    super(`invalid message length ${length} for message ${describeType(type)}`);
  }
}

const HEADER = 5;

/**
 * Synchronous, allocation-light framer. Whole messages that sit inside one chunk are handed out as
 * zero-copy views; only messages that span chunks are copied. Limits apply to whole messages only:
 * streamed messages never accumulate.
 */
export class Framer {
  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  /** Bytes of the current message still to come (streamed or buffered). */
  private remaining = 0;
  private wholeBuf: Buffer | null = null;
  private wholeFill = 0;
  private streaming = false;
  private currentType = 0;

  constructor(
    private readonly handler: FrameHandler,
    private readonly maxWholeLength: number,
  ) {}

  /** True when no partial message is buffered (a clean boundary). */
  get isAtBoundary(): boolean {
    return this.headerFill === 0 && this.remaining === 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.remaining > 0) {
        pos = this.continueBody(chunk, pos);
        continue;
      }
      // Fast path: a whole header inside this chunk.
      if (this.headerFill === 0 && end - pos >= HEADER) {
        const type = chunk[pos]!;
        const length = chunk.readInt32BE(pos + 1);
        pos = this.startMessage(chunk, pos, type, length);
        continue;
      }
      const take = Math.min(HEADER - this.headerFill, end - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + take);
      this.headerFill += take;
      pos += take;
      if (this.headerFill === HEADER) {
        this.headerFill = 0;
        const type = this.header[0]!;
        const length = this.header.readInt32BE(1);
        this.beginSpanning(type, length, Buffer.from(this.header));
      }
    }
  }

  /** Header fully inside `chunk` at `pos`; returns the new position. */
  private startMessage(chunk: Buffer, pos: number, type: number, length: number): number {
    if (length < 4) throw new InvalidLengthError(type, length);
    const total = length + 1;
    const disposition = this.handler.dispose(type, length);
    if (disposition === Disposition.Whole && length > this.maxWholeLength) {
      throw new MessageTooLargeError(type, length, this.maxWholeLength);
    }
    if (pos + total <= chunk.length) {
      if (disposition === Disposition.Whole) this.handler.onMessage(type, chunk, pos, pos + total);
      else this.handler.onForward(chunk, pos, pos + total);
      return pos + total;
    }
    // The message spans chunks.
    this.currentType = type;
    this.remaining = total - (chunk.length - pos);
    if (disposition === Disposition.Stream) {
      this.streaming = true;
      this.handler.onForward(chunk, pos, chunk.length);
    } else {
      this.streaming = false;
      this.wholeBuf = Buffer.allocUnsafe(total);
      this.wholeFill = chunk.copy(this.wholeBuf, 0, pos);
    }
    return chunk.length;
  }

  /** A header assembled from pieces of several chunks. */
  private beginSpanning(type: number, length: number, header: Buffer): void {
    if (length < 4) throw new InvalidLengthError(type, length);
    const disposition = this.handler.dispose(type, length);
    if (disposition === Disposition.Whole && length > this.maxWholeLength) {
      throw new MessageTooLargeError(type, length, this.maxWholeLength);
    }
    this.currentType = type;
    this.remaining = length - 4;
    if (disposition === Disposition.Stream) {
      this.streaming = true;
      this.handler.onForward(header, 0, header.length);
      if (this.remaining === 0) this.streaming = false;
      return;
    }
    this.streaming = false;
    this.wholeBuf = Buffer.allocUnsafe(length + 1);
    header.copy(this.wholeBuf, 0);
    this.wholeFill = HEADER;
    if (this.remaining === 0) this.finishWhole();
  }

  private continueBody(chunk: Buffer, pos: number): number {
    const take = Math.min(this.remaining, chunk.length - pos);
    this.remaining -= take;
    if (this.streaming) {
      this.handler.onForward(chunk, pos, pos + take);
      if (this.remaining === 0) this.streaming = false;
    } else {
      chunk.copy(this.wholeBuf!, this.wholeFill, pos, pos + take);
      this.wholeFill += take;
      if (this.remaining === 0) this.finishWhole();
    }
    return pos + take;
  }

  private finishWhole(): void {
    const msg = this.wholeBuf!;
    this.wholeBuf = null;
    this.wholeFill = 0;
    this.handler.onMessage(this.currentType, msg, 0, msg.length);
  }
}
