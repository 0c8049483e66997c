// A periodic tick that notices what no browser event reports: a tick far later than planned means
// the page's JavaScript was frozen (or the device slept); every other tick lets the connection
// check for silence and for a connection attempt that never ends.

import { Timer } from "./timer.js";
import { realTimers } from "./timers.js";

export const WATCHDOG_DEFAULTS = Object.freeze({
  interval: 2000,
  /** A tick this much later than planned means the page's JavaScript was frozen. */
  frozenGap: 4000,
});

export class Watchdog {
  /**
   * @param {object} deps
   * @param {(late: number, now: number) => void} deps.onFrozen  timers stopped for `late` ms
   * @param {(now: number) => void} deps.onTick                 an ordinary tick
   */
  constructor({ onFrozen, onTick, timers = realTimers, options = {} }) {
    Object.assign(this, { onFrozen, onTick, timers });
    this.options = { ...WATCHDOG_DEFAULTS, ...options };
    this.timer = new Timer(() => this.#tick(), () => this.options.interval, timers);
    this.lastTick = null;
  }

  get running() {
    return this.timer.pending;
  }

  start() {
    this.lastTick = this.timers.now();
    this.timer.schedule();
  }

  stop() {
    this.timer.reset();
  }

  #tick() {
    const now = this.timers.now();
    const late = now - this.lastTick - this.options.interval;
    this.start();
    if (late > this.options.frozenGap) this.onFrozen(late, now);
    else this.onTick(now);
  }
}
