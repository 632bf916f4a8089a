// Issues BackendKeyData to clients and finds the session a CancelRequest names; forwards the cancel to its server.

import { randomInt } from 'node:crypto';
import net from 'node:net';
import { serialize } from 'pg-protocol';

export interface Cancellable {
  cancel(send: (host: string, port: number, pid: number, secret: number) => void): void;
}

export class CancelRegistry<S extends Cancellable> {
  private readonly byKey = new Map<string, S>();
  private nextPid = 1;

  /** A fresh (pid, secret): pids are ours, secrets random, so a cancel cannot be guessed. */
  issue(session: S): { pid: number; secret: number } {
    const pid = this.nextPid;
    this.nextPid = this.nextPid >= 0x7fffffff ? 1 : this.nextPid + 1;
    const secret = randomInt(0, 0x7fffffff);
    this.byKey.set(`${pid}:${secret}`, session);
    return { pid, secret };
  }

  remove(key: { pid: number; secret: number }): void {
    this.byKey.delete(`${key.pid}:${key.secret}`);
  }

  /** Unknown keys are ignored silently, as PostgreSQL does. */
  cancel(pid: number, secret: number): void {
    this.byKey.get(`${pid}:${secret}`)?.cancel(sendCancelRequest);
  }
}

/** A CancelRequest goes on a new connection to the server running the query (protocol 55.2.8). */
export function sendCancelRequest(host: string, port: number, pid: number, secret: number): void {
  const s = net.connect({ host, port });
  s.setTimeout(5000, () => s.destroy());
  s.on('error', () => s.destroy());
  s.on('connect', () => s.end(serialize.cancel(pid, secret)));
}
