// One request waiting for a server connection: delivers the pool's answer to its session once, or gives it back.

import type { Pool, PoolWaiter } from './server/pool.js';
import type { ServerConnection } from './server/server-connection.js';

export interface PoolWaitOwner {
  onPoolConnection(conn: ServerConnection): void;
  onPoolFailure(err: Error): void;
}

/**
 * The pool may answer after the session stopped waiting (the client left or cancelled while a new
 * connection was still opening): such a connection goes straight back to the pool instead of being
 * stranded with nobody to release it.
 */
export class PoolWait implements PoolWaiter {
  private isOver = false;

  constructor(
    readonly pool: Pool,
    private readonly owner: PoolWaitOwner,
  ) {}

  onAcquired(conn: ServerConnection): void {
    if (this.isOver) {
      this.pool.release(conn);
      return;
    }
    this.isOver = true;
    this.owner.onPoolConnection(conn);
  }

  onFailed(err: Error): void {
    if (this.isOver) return;
    this.isOver = true;
    this.owner.onPoolFailure(err);
  }

  /** The session stops waiting; nothing is delivered to it afterwards. */
  abandon(): void {
    if (this.isOver) return;
    this.isOver = true;
    this.pool.cancelWait(this);
  }
}
