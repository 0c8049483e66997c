// The Connection's reconnect schedule (connection.js): when the next attempt starts. Forever, by
// the one retry policy (retry.js), reset (and skipped) whenever the user comes back; an attempt
// that never ends is restarted; a dropped zombie is replaced at once. socket.io-client's own
// reconnection is off (socket.js): it gives up after `reconnectionAttempts` and ignores
// `connect()` while it waits out a delay.
//
// This module decides when and in which state (connstate.js) to wait; the Connection says how an
// attempt is made (`attempt(reason)`: its link restarts, or a wake-up race's spare takes over).

import { STATES, downState } from "./connstate.js";
import { retryTimer } from "./retry.js";
import { realTimers } from "./timers.js";

/** A wake-up leaves an attempt younger than this alone (unless it was only a wait). */
const YOUNG_ATTEMPT_MS = 1000;
/** An attempt older than Socket.IO's `connectTimeout` plus this is taken for stuck. */
const STUCK_AFTER_TIMEOUT_MS = 2000;

export class Reconnect {
  /**
   * `machine` the connection's state machine (connstate.js); `meter` its ConnectMeter (a
   * recovery begins at every attempt, `stats.failures` picks the down state); `env` `{online()}`;
   * `options` `{connectTimeout, offlineAfterFailures}`; `stopped()` / `unauthorized()` whether
   * not to try at all / not until the auth changes; `attemptAge(now)` how long the link's attempt
   * has been under way, or null; `attempt(reason)` start one.
   */
  constructor({ machine, meter, env, options, stopped, unauthorized, attemptAge, attempt,
                timers = realTimers, random = Math.random, log = () => {} }) {
    Object.assign(this, { machine, meter, env, options, stopped, unauthorized, attemptAge, attempt, timers, log });
    this.timer = retryTimer(() => this.now("retry"), { timers, random });
  }

  /** When the next scheduled attempt fires (timers.now() clock), or null. */
  get dueAt() { return this.timer.dueAt; }

  /** Start an attempt now (any wait is cancelled). */
  now(reason) {
    if (this.stopped()) return;
    this.timer.cancel();
    this.meter.begin(this.timers.now());
    this.log("info", `[Connection] connecting (${reason})`);
    this.machine.go(this.env.online() ? STATES.CONNECTING : STATES.OFFLINE, reason);
    this.attempt(reason);
  }

  /** A connection found dead at `startedAt` is replaced at once, the backoff starting over. */
  drop(reason, startedAt) {
    this.meter.zombie(startedAt);
    this.log("warn", `[Connection] dropping the connection: ${reason}`);
    this.timer.reset();
    this.now(`drop: ${reason}`);
  }

  /** An attempt failed or the connection was lost: wait by the retry policy (once). */
  later(reason) {
    if (this.stopped() || this.unauthorized() || this.timer.pending) return;
    this.machine.go(this.downState(), reason);
    const delay = this.timer.schedule();
    this.log("info", `[Connection] retry in ${delay}ms (try ${this.timer.tries + 1})`);
  }

  /** The user may be back while not connected: the backoff starts over, and an attempt starts
   *  now unless one younger than a second is under way (a wait is never given its chance). */
  wake(reason, now) {
    const waiting = this.timer.pending;
    this.timer.reset();
    const age = this.attemptAge(now);
    if (waiting || age === null || age >= YOUNG_ATTEMPT_MS) this.now(`wake:${reason}`);
  }

  /** A watchdog tick on a healthy page: restart an attempt that never ended. */
  tick(now) {
    const age = this.attemptAge(now);
    const stuck = age !== null && age > this.options.connectTimeout + STUCK_AFTER_TIMEOUT_MS;
    if (stuck && this.machine.state !== STATES.CONNECTED) this.now("attempt stuck");
  }

  /** Connected: the next loss starts the backoff from its first step. */
  connected() { this.timer.reset(); }

  /** Stopped: no attempt is waiting. */
  cancel() { this.timer.cancel(); }

  /** Which "not connected" state a lost or failing connection is in (connstate.js). */
  downState() {
    const { failures } = this.meter.stats;
    return downState({ online: this.env.online(), failures, offlineAfterFailures: this.options.offlineAfterFailures });
  }
}
