// Is the connection that says "connected" really alive? Three signs say it may not be: the user
// comes back to the page (signals.js), the page's timers were frozen (watchdog.js), or nothing
// arrived for longer than the server's pings allow (ping.js). Each leads to a heartbeat probe
// (heartbeat.js), or, after an absence longer than the server tolerates, straight to "dead".

import { Heartbeat } from "./heartbeat.js";
import { ServerPing } from "./ping.js";
import { PageSignals } from "./signals.js";
import { realTimers } from "./timers.js";
import { Watchdog } from "./watchdog.js";

export class Liveness {
  /**
   * @param {object} deps
   * @param {{on: Function, visible: () => boolean}} deps.env
   * @param {Function} deps.push                   the connection's push (for the heartbeat)
   * @param {() => boolean} deps.connected
   * @param {() => number | null} deps.lastReceivedAt
   * @param {(signal: string) => void} deps.onWake  the user may be back
   * @param {(reason: string, startedAt: number) => void} deps.onDead  drop the socket
   * @param {(now: number) => void} deps.onTick     a watchdog tick that found nothing wrong
   * @param {() => void} deps.onOffline
   * @param {(reason: string, startedAt: number) => void} [deps.onRace]  open a fresh connection
   *        beside the probe (the absence was long enough for the socket to be gone)
   * @param {() => void} [deps.onAlive]   the probe was answered
   */
  constructor({ env, push, connected, lastReceivedAt, onWake, onDead, onTick, onOffline, onRtt,
                onRace = () => {}, onAlive = () => {}, timers = realTimers, log = () => {}, options = {} }) {
    Object.assign(this, { env, connected, lastReceivedAt, onDead, onTick, onRace, timers, options });
    this.ping = new ServerPing();
    this.heartbeat = new Heartbeat({
      push, timers, log, onTimeout: onDead, onRtt, onAnswer: onAlive, options: options.heartbeat,
    });
    this.signals = new PageSignals({ env, timers, log, onWake, onOffline });
    this.watchdog = new Watchdog({
      timers, options: options.watchdog, onTick: (now) => this.#onTick(now),
      onFrozen: (late, now) => { this.signals.awaySince(now - late); onWake("timer-gap"); },
    });
  }

  /** Silence longer than this while visible triggers a probe (an option overrides the server's). */
  get silenceLimit() {
    return this.options.silenceLimit ?? this.ping.silenceLimit;
  }

  start() {
    this.signals.start();
    this.watchdog.start();
  }

  stop() {
    this.signals.stop();
    this.watchdog.stop();
  }

  /** How long the page was away before this wake-up (0 if it was not). */
  takeAway(now) {
    return this.signals.takeAway(now);
  }

  /** The user is back on a connection that says it is up: probe it, or drop it at once when the
   *  absence was longer than the server tolerates (it has dropped us by now). After an absence
   *  long enough for a phone to have cut the socket (`ping.raceAfter`) a fresh connection opens
   *  beside the probe, and whichever proves alive first is kept. */
  check(reason, away, now) {
    if (away > this.ping.serverTimeout) return this.onDead(`away ${away}ms > server timeout`, now);
    if (away > this.ping.raceAfter) this.onRace(`away ${away}ms > ${this.ping.raceAfter}ms`, now);
    this.heartbeat.probe(reason);
  }

  /** The connection went down: the probe on its way will not be answered. */
  disconnected() {
    this.heartbeat.cancel();
  }

  #onTick(now) {
    const last = this.lastReceivedAt();
    const silent = last === null ? 0 : now - last;
    if (this.connected() && this.env.visible() && silent > this.silenceLimit) {
      this.heartbeat.probe(`silent for ${silent}ms`);
    } else {
      this.onTick(now);
    }
  }
}
