// Presence: tells the server which session this tab shows while the page is visible, so that an
// answer someone is looking at is not pushed to their phone (docs/protocol.md, "Web Push").
// Reported on (re)connect, on visibility changes, when the chat changes, and again before the
// server's `ttl` runs out while nothing changes. Only when the server offers push (hello.push).

import { EVENTS } from "./protocol.js";

export class Presence {
  /** `connection` {push, connected, on}; `env` {on, visible()}; `enabled()` whether the server
   *  offers push. */
  constructor({ connection, env, timers, enabled, log = () => {} }) {
    Object.assign(this, { connection, env, timers, enabled, log });
    this.sessionId = null;
    this.sent = null; // the last report the server acknowledged, as a string
    this.renewTimer = null;
    env.on("visibilitychange", () => this.report());
  }

  /** The chat this tab shows now (null: none). */
  show(sessionId) {
    this.sessionId = sessionId ?? null;
    this.report();
  }

  /** The connection (re)opened: the server forgot this tab's last report. */
  connected() {
    this.sent = null;
    this.report();
  }

  report({ renew = false } = {}) {
    if (!this.connection.connected || !this.enabled()) return;
    const visible = this.env.visible();
    const payload = visible && this.sessionId ? { visible: true, session_id: this.sessionId } : { visible: false };
    const key = JSON.stringify(payload);
    if (key === this.sent && !renew) return;
    this.sent = key;
    this.connection.push(EVENTS.PRESENCE, payload)
      .receive("ok", (ack) => this.#schedule(payload.visible ? ack?.ttl : null))
      .receive("error", (error) => { this.sent = null; this.log("warn", `[Presence] ${error?.code}: ${error?.message}`); })
      .receive("timeout", () => { this.sent = null; });
  }

  #schedule(ttl) {
    if (this.renewTimer !== null) this.timers.clearTimeout(this.renewTimer);
    this.renewTimer = null;
    if (typeof ttl !== "number" || ttl <= 0) return;
    this.renewTimer = this.timers.setTimeout(() => { this.renewTimer = null; this.report({ renew: true }); }, (ttl * 1000) / 2);
  }
}
