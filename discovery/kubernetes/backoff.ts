// Exponential backoff delays for re-listing and re-watching a Kubernetes API that is failing.

export interface BackoffOptions {
  /** First delay; default 250 ms. */
  initialMs?: number;
  /** Cap; default 5000 ms: an API server outage should be noticed over within seconds of its end. */
  maxMs?: number;
  factor?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private nextMs: number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 250;
    this.maxMs = options.maxMs ?? 5000;
    this.factor = options.factor ?? 2;
    this.nextMs = this.initialMs;
  }

  /** The delay before the next attempt; each call grows the one after, up to the cap. */
  next(): number {
    const delay = Math.min(this.nextMs, this.maxMs);
    this.nextMs = Math.min(this.nextMs * this.factor, this.maxMs);
    return delay;
  }

  /** After a success the next failure starts from the initial delay again. */
  reset(): void {
    this.nextMs = this.initialMs;
  }
}
