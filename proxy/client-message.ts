// One message from a client: a range of the read it arrived in, made a Buffer only when code asks for one.

import type { StatementInfo } from './session-types.js';
import { nulFrom } from './wire/frontend-messages.js';

/**
 * Most client messages are relayed untouched, as ranges of the chunk they were read in (see Outbox),
 * and routing reads a byte or two of them at most. A Buffer view of each would cost more than all
 * the rest of their handling in a pipelined extended-protocol request: Buffer#subarray reads the
 * typed array's buffer and offset through C++ calls and builds a new typed array (measured with
 * callgrind: about a seventh of the proxy's instructions for `pgbench -S -M extended`). So the view
 * is made on first use of `msg`, and then kept: code that compares messages by identity (see
 * PreparedStatements.forBind) sees the same Buffer every time.
 */
export class ClientMessage {
  /** Classification already computed for routing, reused when the message is sent. */
  info: StatementInfo | null | undefined = undefined;
  private view: Buffer | null;

  constructor(
    readonly type: number,
    /** The chunk the message is a range of; it must not change while the message is pending. */
    readonly chunk: Buffer,
    readonly start: number,
    readonly end: number,
  ) {
    // A read that holds exactly one message (a simple Query, usually) is that message already.
    this.view = start === 0 && end === chunk.length ? chunk : null;
  }

  /** A message that is a Buffer of its own (built by the proxy or by a test). */
  static of(type: number, msg: Buffer): ClientMessage {
    return new ClientMessage(type, msg, 0, msg.length);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The whole message, header included, as a Buffer. */
  get msg(): Buffer {
    if (this.view === null) this.view = this.chunk.subarray(this.start, this.end);
    return this.view;
  }

  /** Byte `offset` of the message (0 is the type byte), or undefined past its end. */
  byteAt(offset: number): number | undefined {
    const i = this.start + offset;
    return i < this.end ? this.chunk[i] : undefined;
  }

  /** Where the next NUL is at or after message offset `from`, as a message offset, or -1. */
  nulFrom(from: number): number {
    const i = nulFrom(this.chunk, this.start + from, this.end);
    return i < 0 ? -1 : i - this.start;
  }

  /** True when the message holds exactly the bytes of `other`. */
  equals(other: Buffer): boolean {
    const n = this.end - this.start;
    return other.length === n && this.chunk.compare(other, 0, n, this.start, this.end) === 0;
  }
}
