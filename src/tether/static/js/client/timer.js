// A timer that counts its tries, after Phoenix's `Timer`: every retry loop of the client is one
// of these, with its delays from the one retry policy (retry.js).
//
//   const timer = new Timer(() => reconnect(), (tries) => retryDelay(tries), timers);
//   timer.schedule();   // fires once after delayOf(tries); the try is counted when it fires
//   timer.reset();      // a success: cancel, and the next schedule starts from the first delay

import { realTimers } from "./timers.js";

export class Timer {
  /**
   * @param {() => void} callback
   * @param {(tries: number) => number} delayOf  ms to wait, given how many tries already fired
   * @param {{now: Function, setTimeout: Function, clearTimeout: Function}} [timers]
   */
  constructor(callback, delayOf, timers = realTimers) {
    Object.assign(this, { callback, delayOf, timers });
    this.tries = 0;
    this.handle = null;
    this.dueAt = null; // when the scheduled try fires (timers.now() clock), or null
  }

  /** Whether a try is scheduled. */
  get pending() {
    return this.handle !== null;
  }

  /** Schedule the next try (replacing a scheduled one); returns its delay. */
  schedule() {
    this.cancel();
    const delay = this.delayOf(this.tries);
    this.dueAt = this.timers.now() + delay;
    this.handle = this.timers.setTimeout(() => {
      this.handle = null;
      this.dueAt = null;
      this.tries += 1;
      this.callback();
    }, delay);
    return delay;
  }

  /** Cancel a scheduled try; the count of tries is kept. */
  cancel() {
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
    this.dueAt = null;
  }

  /** Cancel, and start over from the first delay. */
  reset() {
    this.cancel();
    this.tries = 0;
  }
}
