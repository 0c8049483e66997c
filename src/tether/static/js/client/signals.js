// The page's lifecycle as the connection needs it: the signals that mean "the user may be back"
// (each one checks the connection), the ones that mean "hidden", and how long the page was away.

import { realTimers } from "./timers.js";

/** Browser events that mean "the user may be back": each one checks the connection. */
export const WAKE_SIGNALS = Object.freeze(["visibilitychange", "pageshow", "focus", "online", "resume"]);
const HIDE_SIGNALS = Object.freeze(["freeze", "pagehide"]);

export class PageSignals {
  /**
   * @param {object} deps
   * @param {{on: Function, visible: () => boolean}} deps.env
   * @param {(signal: string) => void} deps.onWake
   * @param {() => void} deps.onOffline   the browser says the network is gone
   */
  constructor({ env, onWake, onOffline, timers = realTimers, log = () => {} }) {
    Object.assign(this, { env, onWake, onOffline, timers, log });
    this.hiddenAt = null;
    this.offs = [];
  }

  start() {
    for (const signal of [...WAKE_SIGNALS, ...HIDE_SIGNALS, "offline"]) {
      this.offs.push(this.env.on(signal, () => this.#on(signal)));
    }
    if (!this.env.visible()) this.hiddenAt = this.timers.now();
  }

  stop() {
    for (const off of this.offs.splice(0)) off();
  }

  /** How long the page has been away (0 when it never was); forgets the absence once visible. */
  takeAway(now = this.timers.now()) {
    const away = this.hiddenAt === null ? 0 : now - this.hiddenAt;
    if (this.env.visible()) this.hiddenAt = null;
    return away;
  }

  /** The page was away since `at` without any event saying so (its timers were frozen). */
  awaySince(at) {
    if (this.hiddenAt === null) this.hiddenAt = at;
  }

  #on(signal) {
    if (signal === "offline") {
      this.log("info", "[Connection] offline event");
      this.onOffline();
      return;
    }
    if (HIDE_SIGNALS.includes(signal) || (signal === "visibilitychange" && !this.env.visible())) {
      this.awaySince(this.timers.now());
      this.log("info", `[Connection] ${signal}: page hidden`);
      return;
    }
    this.onWake(signal);
  }
}
