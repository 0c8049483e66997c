// The client's one retry policy: "full jitter" exponential backoff, forever. Reconnecting, a
// subscribe that failed, a message the outbox could not deliver, a request without an answer and a
// log batch the server did not take all wait by this schedule (each through a Timer).
//
// Full jitter (a uniform pick between a floor and an exponentially growing ceiling) spreads a crowd
// of clients that lost the server at the same moment, so they do not all come back in the same
// millisecond. There is no attempt limit: giving up after ten tries is what left the original's
// phones disconnected for good.

import { Timer } from "./timer.js";
import { realTimers } from "./timers.js";

export const RETRY_POLICY = Object.freeze({ min: 250, max: 5000, factor: 2 });

/**
 * The delay before retry number `tries` (0 for the first retry): a uniform pick in
 * [min / 2, ceiling] with ceiling = min(max, min * factor ** tries). The floor of min / 2 keeps a
 * flapping server from being hammered in a tight loop. Pure: `random` returns a number in [0, 1).
 */
export function retryDelay(tries, random = Math.random) {
  const { min, max, factor } = RETRY_POLICY;
  const ceiling = Math.min(max, min * factor ** Math.max(0, tries));
  const floor = Math.min(min / 2, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

/** A Timer that calls `callback` after the policy's delays. */
export function retryTimer(callback, { timers = realTimers, random = Math.random } = {}) {
  return new Timer(callback, (tries) => retryDelay(tries, random), timers);
}
