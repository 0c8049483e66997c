// Reconnect delays: "full jitter" exponential backoff, forever.
//
// Full jitter (a uniform pick between 0 and an exponentially growing ceiling) spreads a crowd of
// clients that lost the server at the same moment, so they do not all come back in the same
// millisecond. There is no attempt limit: giving up after ten tries is what left the original's
// phones disconnected for good.

export const DEFAULT_BACKOFF = Object.freeze({ min: 250, max: 5000, factor: 2 });

/**
 * The delay before retry number `attempt` (0 for the first retry): a uniform pick in
 * [min / 2, ceiling] with ceiling = min(max, min * factor ** attempt). The floor of min / 2 keeps a
 * flapping server from being hammered in a tight loop. Pure: `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt, random = Math.random, options = DEFAULT_BACKOFF) {
  const { min, max, factor } = { ...DEFAULT_BACKOFF, ...options };
  const ceiling = Math.min(max, min * factor ** Math.max(0, attempt));
  const floor = Math.min(min / 2, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

/** Counts attempts and hands out their delays. */
export class Backoff {
  constructor({ random = Math.random, ...options } = {}) {
    this.random = random;
    this.options = { ...DEFAULT_BACKOFF, ...options };
    this.attempts = 0;
  }

  /** The delay before the next attempt; counts the attempt. */
  next() {
    return backoffDelay(this.attempts++, this.random, this.options);
  }

  /** Start over from the shortest delay (after a success, or when the user is back). */
  reset() {
    this.attempts = 0;
  }
}
