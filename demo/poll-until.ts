// Polls an async condition until it holds or a deadline passes (replication is only observable by polling).
import { setTimeout as sleep } from 'node:timers/promises';

/** A cluster condition did not become true in time. */
export class ClusterTimeoutError extends Error {
  readonly code = 'CLUSTER_TIMEOUT';
  constructor(what: string, timeoutMs: number, lastError: unknown) {
    const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
    super(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    this.name = 'ClusterTimeoutError';
  }
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/** A throwing check counts as "not yet" (servers refuse connections while starting); its error is reported on timeout. */
export async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: PollOptions,
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const intervalMs = opts.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) throw new ClusterTimeoutError(what, opts.timeoutMs, lastError);
    await sleep(intervalMs);
  }
}
