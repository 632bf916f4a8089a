// The pure queue of replies a server still owes for the frontend messages sent to it, and what to do with each.

import type { SettingChange } from './session-types.js';
import { Backend } from './wire/codes.js';

/**
 * One entry per frontend message that produces a reply. `forward` replies go to the client; `skip`
 * replies answer messages the proxy injected itself (a lazily re-prepared statement, a settings sync);
 * a `fake` entry is a reply the proxy produces without the server (CloseComplete for a statement the
 * proxy keeps) and is emitted when it reaches the head, which preserves reply order.
 */
export type Owed =
  | { kind: 'parse'; forward: boolean; serverName: string | null }
  | { kind: 'bind' }
  | { kind: 'describe-statement'; forward: boolean }
  | { kind: 'describe-portal' }
  | { kind: 'execute' }
  | { kind: 'close'; forward: boolean }
  | { kind: 'sync' }
  | { kind: 'query'; forward: boolean; settings?: readonly SettingChange[]; capturesLsn?: boolean }
  | { kind: 'function-call' }
  | { kind: 'fake'; reply: Buffer | (() => Buffer) };

/**
 * Entries without per-request data, shared: owed replies are pushed for every message of every
 * request, and these need no allocation. Never mutated.
 */
export const OWED_BIND: Owed = Object.freeze({ kind: 'bind' });
export const OWED_DESCRIBE_PORTAL: Owed = Object.freeze({ kind: 'describe-portal' });
export const OWED_EXECUTE: Owed = Object.freeze({ kind: 'execute' });
export const OWED_SYNC: Owed = Object.freeze({ kind: 'sync' });
export const OWED_FUNCTION_CALL: Owed = Object.freeze({ kind: 'function-call' });
export const OWED_QUERY: Owed = Object.freeze({ kind: 'query', forward: true });
export const OWED_UNNAMED_PARSE: Owed = Object.freeze({ kind: 'parse', forward: true, serverName: null });

/** What to do with one server message. */
export interface ReplyAction {
  forward: boolean;
  /** The entry this message completed, if any. */
  completed: Owed | null;
  /** A Parse whose statement failed: the server does not have it. */
  failedParse: string | null;
}

/**
 * Tracks owed replies (PgDog's backend/protocol/state.rs, PgBouncer's outstanding requests).
 * A server connection may be released only when `isEmpty` and the last ReadyForQuery said idle.
 */
export class ReplyQueue {
  private items: Owed[] = [];
  private head = 0;
  /**
   * The answer of onServerMessage, reused: it is read at once by the one caller, and a server
   * message must not cost an allocation.
   */
  private readonly action: ReplyAction = { forward: true, completed: null, failedParse: null };

  get isEmpty(): boolean {
    return this.head === this.items.length;
  }
  get length(): number {
    return this.items.length - this.head;
  }
  /** Number of the client's Sync/Query/FunctionCall whose ReadyForQuery is still owed. */
  countReadyOwed(): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) {
      // Only what the client asked for: the proxy's own queries (settings sync, LSN) owe it nothing.
      const o = this.items[i]!;
      if (o.kind === 'sync' || o.kind === 'function-call' || (o.kind === 'query' && o.forward)) n++;
    }
    return n;
  }

  push(o: Owed): void {
    this.items.push(o);
  }

  peek(): Owed | undefined {
    return this.items[this.head];
  }

  /**
   * Pops and returns leading `fake` entries, in order; the caller sends them to the client. A function
   * reply is computed only now, so it sees the state the replies before it produced.
   */
  get hasFakeAtHead(): boolean {
    return this.items[this.head]?.kind === 'fake';
  }

  takeFakes(out: Buffer[]): void {
    for (;;) {
      const o = this.items[this.head];
      if (o?.kind !== 'fake') break;
      out.push(typeof o.reply === 'function' ? o.reply() : o.reply);
      this.shift();
    }
  }

  /**
   * Decide what to do with a server message of `type`, updating the queue. The answer is valid until
   * the next call (it is the same object every time).
   */
  onServerMessage(type: number): ReplyAction {
    const h = this.items[this.head];
    if (!h) return this.done(true, null);
    switch (type) {
      case Backend.ReadyForQuery:
        // Ends a Sync, a Query or a FunctionCall; anything else before it was skipped by an error.
        while (this.head < this.items.length) {
          const o = this.shift();
          if (o.kind === 'sync' || o.kind === 'function-call') return this.done(true, o);
          if (o.kind === 'query') return this.done(o.forward, o);
        }
        return this.done(true, null);
      case Backend.ErrorResponse:
        return this.onError(h);
      case Backend.ParseComplete:
        return h.kind === 'parse' ? this.done(h.forward, this.shift()) : this.inQuery(h);
      case Backend.BindComplete:
        return h.kind === 'bind' ? this.done(true, this.shift()) : this.inQuery(h);
      case Backend.CloseComplete:
        return h.kind === 'close' ? this.done(h.forward, this.shift()) : this.inQuery(h);
      case Backend.ParameterDescription:
        return h.kind === 'describe-statement' ? this.done(h.forward, null) : this.inQuery(h);
      case Backend.RowDescription:
      case Backend.NoData:
        if (h.kind === 'describe-statement') return this.done(h.forward, this.shift());
        if (h.kind === 'describe-portal') return this.done(true, this.shift());
        return this.inQuery(h);
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended:
        if (h.kind === 'execute') return this.done(true, this.shift());
        return this.inQuery(h);
      default:
        // DataRow, copy traffic, notices, notifications, parameter status: part of the current reply.
        return this.inQuery(h);
    }
  }

  /** Drop everything (the server is gone); returns how many ReadyForQuery were still owed. */
  clear(): number {
    const owed = this.countReadyOwed();
    this.items = [];
    this.head = 0;
    return owed;
  }

  private onError(h: Owed): ReplyAction {
    if (h.kind === 'query' || h.kind === 'function-call')
      return this.done(h.kind === 'function-call' || h.forward, null);
    // Extended protocol: the server discards messages until the next Sync (protocol chapter 55.2.3),
    // so their replies are no longer owed.
    const failed = this.shift();
    const failedParse = failed.kind === 'parse' ? failed.serverName : null;
    while (this.head < this.items.length && this.items[this.head]!.kind !== 'sync') this.shift();
    const a = this.done(true, failed);
    a.failedParse = failedParse;
    return a;
  }

  private inQuery(h: Owed): ReplyAction {
    return this.done(h.kind === 'query' ? h.forward : true, null);
  }

  private done(forward: boolean, completed: Owed | null): ReplyAction {
    const a = this.action;
    a.forward = forward;
    a.completed = completed;
    a.failedParse = null;
    return a;
  }

  private shift(): Owed {
    const o = this.items[this.head++]!;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return o;
  }
}
