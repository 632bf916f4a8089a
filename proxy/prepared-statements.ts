// A client's named prepared statements, mapped to server-side names shared by every client with the same statement.

import { createHash } from 'node:crypto';
import { type BindHead, readBindHead } from './wire/frontend-messages.js';

export interface ClientStatement {
  /** Name the server knows it by: derived from the text and parameter types, so clients share it. */
  serverName: string;
  query: string;
  paramTypes: Buffer;
}

/** A named Bind, decoded: its head and the client statement it names (undefined: unknown name). */
export interface BoundStatement {
  head: BindHead;
  stmt: ClientStatement | undefined;
}

export class TooManyStatementsError extends Error {
  readonly code = 'TOO_MANY_PREPARED_STATEMENTS';
}

/**
 * Transaction pooling moves a client between server connections, so a statement the client prepared
 * once must be prepared again, lazily, on whichever server runs it (as PgBouncer 1.21+ does). Names
 * are content hashes, so two clients preparing the same statement reuse one server-side statement.
 */
export class PreparedStatements {
  private readonly byName = new Map<string, ClientStatement>();
  /**
   * The Bind last looked up, and the answer: a Bind is looked up when its request is classified and
   * again when it is written. Forgotten whenever a name is defined or dropped.
   */
  private lastBindMsg: Buffer | null = null;
  private lastBind: BoundStatement | null = null;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.byName.size;
  }

  define(name: string, query: string, paramTypes: Buffer): ClientStatement {
    if (!this.byName.has(name) && this.byName.size >= this.limit) {
      throw new TooManyStatementsError(
        `pgroute: more than ${this.limit} prepared statements on one connection`,
      );
    }
    const stmt: ClientStatement = {
      serverName: serverNameFor(query, paramTypes),
      query,
      paramTypes: Buffer.from(paramTypes),
    };
    this.byName.set(name, stmt);
    this.lastBindMsg = null;
    return stmt;
  }

  get(name: string): ClientStatement | undefined {
    return this.byName.get(name);
  }

  /** The statement a Bind names (the unnamed one has no entry), from the message's bytes. */
  forBind(msg: Buffer): BoundStatement {
    if (msg === this.lastBindMsg) return this.lastBind!;
    const head = readBindHead(msg);
    const bound = { head, stmt: head.statement ? this.byName.get(head.statement) : undefined };
    this.lastBindMsg = msg;
    this.lastBind = bound;
    return bound;
  }

  delete(name: string): void {
    this.byName.delete(name);
    this.lastBindMsg = null;
  }

  clear(): void {
    this.byName.clear();
    this.lastBindMsg = null;
  }
}

export function serverNameFor(query: string, paramTypes: Buffer): string {
  const h = createHash('sha1').update(query).update('\0').update(paramTypes).digest('hex');
  return `pgroute_${h.slice(0, 24)}`;
}
