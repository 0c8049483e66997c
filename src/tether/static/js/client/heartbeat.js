// The application-level liveness probe: a `heartbeat` request whose answer proves the connection
// alive, and whose round trip gives the next probe its timeout. No answer in time means the socket
// is a zombie (a phone's suspended network leaves one behind, still saying "connected").

import { EVENTS } from "./protocol.js";
import { realTimers } from "./timers.js";

export const HEARTBEAT_DEFAULTS = Object.freeze({
  /** Longest wait for an answer; the actual wait adapts to the measured round trip. */
  probeTimeout: 1500,
  probeTimeoutMin: 400,
});

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

export class Heartbeat {
  /**
   * @param {object} deps
   * @param {(event: string, payload: object, options: object) => import("./push.js").Push} deps.push
   * @param {(reason: string, startedAt: number) => void} deps.onTimeout  the probe went unanswered
   * @param {(rtt: number) => void} [deps.onRtt]
   * @param {() => void} [deps.onAnswer]  any answer (ok or error): the connection is alive
   */
  constructor({ push, onTimeout, onRtt = () => {}, onAnswer = () => {}, timers = realTimers, log = () => {},
                options = {} }) {
    Object.assign(this, { push, onTimeout, onRtt, onAnswer, timers, log });
    this.options = { ...HEARTBEAT_DEFAULTS, ...options };
    this.inflight = null;
    this.rttMs = null;
    /** Smoothed round trip (as TCP's SRTT, weight 0.2 for the newest sample). */
    this.srtt = null;
  }

  /** How long the next probe waits: 4 round trips and a margin, within [min, max]. */
  get timeout() {
    const { probeTimeout, probeTimeoutMin } = this.options;
    return this.srtt === null ? probeTimeout : clamp(4 * this.srtt + 250, probeTimeoutMin, probeTimeout);
  }

  /** Send a probe unless one is on its way. */
  probe(reason) {
    if (this.inflight) return;
    const timeout = this.timeout;
    const startedAt = this.timers.now();
    const push = this.push(EVENTS.HEARTBEAT, {}, { timeout });
    this.inflight = push;
    const done = () => {
      if (this.inflight === push) this.inflight = null;
    };
    push.receive("ok", () => {
      done();
      this.#record(this.timers.now() - startedAt);
      this.log("info", `[Connection] heartbeat ok after ${reason}: ${this.rttMs}ms`);
      this.onAnswer();
    });
    // An error answer still proves the server is there (a request failed on this side, while
    // disconnected, is no answer).
    push.receive("error", (error) => {
      done();
      if (!error?.local) this.onAnswer();
    });
    push.receive("timeout", () => {
      const current = this.inflight === push;
      done();
      if (current) this.onTimeout(`heartbeat timed out after ${timeout}ms (${reason})`, startedAt);
    });
  }

  /** Forget the probe on its way (its connection is gone). */
  cancel() {
    this.inflight = null;
  }

  #record(rtt) {
    this.rttMs = rtt;
    this.srtt = this.srtt === null ? rtt : Math.round(0.8 * this.srtt + 0.2 * rtt);
    this.onRtt(rtt);
  }
}
