// One request to the server: an emit with an acknowledgement and a timeout (after Phoenix's Push).
//
//   new Push(emit, "send", payload, { timeout: 10000 })
//     .receive("ok", (ack) => ...)
//     .receive("error", (error) => ...)      // error = {code, message}, a code of ERROR_CODES
//     .receive("timeout", () => ...)
//     .send();
//
// Exactly one outcome happens. "timeout" means "unknown": the request may or may not have been
// applied, so only idempotent requests (all of Tether's are) may be retried after it.

import { realTimers } from "./timers.js";

export const OUTCOMES = Object.freeze(["ok", "error", "timeout"]);

export class Push {
  /**
   * @param {(event: string, payload: object, ack: (reply: object) => void) => void} emit
   * @param {string} event
   * @param {object} payload
   * @param {{timeout?: number, timers?: object}} options
   */
  constructor(emit, event, payload, { timeout = 10000, timers = realTimers } = {}) {
    this.emit = emit;
    this.event = event;
    this.payload = payload;
    this.timeout = timeout;
    this.timers = timers;
    this.outcome = null; // {status, response} once settled
    this.sentAt = null;
    this.hooks = [];
    this.timer = null;
  }

  /** Register a callback for one outcome; called at once if the push already ended that way. */
  receive(status, callback) {
    if (!OUTCOMES.includes(status)) throw new Error(`unknown push outcome ${status}`);
    if (this.outcome?.status === status) callback(this.outcome.response);
    else this.hooks.push({ status, callback });
    return this;
  }

  /** A promise of the outcome: `{status, response}`; it never rejects. */
  promise() {
    return new Promise((resolve) => {
      for (const status of OUTCOMES) this.receive(status, (response) => resolve({ status, response }));
    });
  }

  /** Emit the request and start the timeout. */
  send() {
    if (this.sentAt !== null) throw new Error("a Push is sent once");
    this.sentAt = this.timers.now();
    this.timer = this.timers.setTimeout(() => this.settle("timeout", null), this.timeout);
    try {
      this.emit(this.event, this.payload, (reply) => this.#reply(reply));
    } catch (error) {
      this.settle("error", { code: "unavailable", message: String(error?.message ?? error) });
    }
    return this;
  }

  /** Round trip in ms, once answered. */
  get elapsed() {
    return this.outcome?.at != null && this.sentAt != null ? this.outcome.at - this.sentAt : null;
  }

  /** End the push with `status` (used by the connection to fail pushes of a dead socket). */
  settle(status, response) {
    if (this.outcome) return false;
    this.outcome = { status, response, at: this.timers.now() };
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    for (const hook of this.hooks.filter((h) => h.status === status)) hook.callback(response);
    this.hooks = [];
    return true;
  }

  #reply(reply) {
    if (reply && reply.ok === true) this.settle("ok", reply);
    else if (reply && reply.ok === false && reply.error) this.settle("error", reply.error);
    else this.settle("error", { code: "internal", message: "malformed acknowledgement" });
  }
}
