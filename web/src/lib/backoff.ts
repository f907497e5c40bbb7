/**
 * Exponential back-off for Studio's retry loops (event-stream reconnects): one helper, the
 * same shape as the server's (src/common/backoff.h) and the SDK's (python/ferry/_backoff.py).
 */

export interface BackoffOptions {
  /** The first delay, in milliseconds. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Each delay is the previous one times this (default 2). */
  factor?: number;
  /**
   * 0 (default): every delay exactly as above. j in (0, 1]: each drawn uniformly from
   * [d * (1 - j), d], so clients that failed together do not retry together.
   */
  jitter?: number;
  /** Source of [0, 1) numbers for the jitter (default Math.random); tests pass their own. */
  random?: () => number;
}

/** The delays of one retry loop. It never waits itself: `setTimeout(retry, b.next())`. */
export class Backoff {
  private current = 0;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.factor = Math.max(1, opts.factor ?? 2);
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0));
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next retry; the one after it is longer (until the cap). */
  next(): number {
    this.current = this.current === 0 ? this.opts.initialMs : this.current * this.factor;
    this.current = Math.min(this.current, this.opts.maxMs);
    if (this.jitter <= 0) return this.current;
    return this.current * (1 - this.jitter * this.random());
  }

  /** After a success: the next failure waits `initialMs` again. */
  reset(): void {
    this.current = 0;
  }
}

/** Event-stream reconnects: 1 s, 2 s, 4 s, 8 s, then 10 s. */
export function reconnectBackoff(): Backoff {
  return new Backoff({ initialMs: 1000, maxMs: 10000 });
}
