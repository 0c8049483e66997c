// Ships the browser's log lines to the server (POST /api/client-logs) in batches, when the user
// turns "Remote" on in the debug panel. It uses plain HTTP, not the socket, so it keeps working
// while the socket is down; a batch that cannot be delivered stays queued and is retried, and the
// queue is capped (oldest lines dropped first) so a long absence cannot exhaust memory.

import { retryTimer } from "./retry.js";
import { realTimers } from "./timers.js";

export const REMOTE_DEFAULTS = Object.freeze({
  batchDelay: 2000,
  maxBatchLines: 200,
  maxQueue: 2000,
  maxLineChars: 2000,
});

export class RemoteLog {
  /**
   * @param {object} deps
   * @param {import("./logbook.js").Logbook} deps.logbook
   * @param {string} deps.endpoint        e.g. "/api/client-logs"
   * @param {() => string | null} deps.token
   * @param {() => string} deps.clientId
   * @param {typeof fetch} [deps.fetch]
   * @param {import("./storage.js").KeyValueStore} [deps.store]  keeps the switch across page loads
   */
  constructor({ logbook, endpoint, token, clientId, fetch = globalThis.fetch?.bind(globalThis),
                timers = realTimers, random = Math.random, store = null, options = {} }) {
    Object.assign(this, { logbook, endpoint, token, clientId, fetch, timers, store });
    this.options = { ...REMOTE_DEFAULTS, ...options };
    this.retry = retryTimer(() => this.#send(), { timers, random });
    this.queue = [];
    this.enabled = false;
    this.timer = null;
    this.sending = false;
    this.stats = { sent: 0, dropped: 0, failures: 0, lastError: null };
    this.off = null;
  }

  /** Turn shipping on (from now on, plus recent lines for context) or off (queue dropped). */
  setEnabled(enabled) {
    if (enabled === this.enabled) return;
    this.enabled = enabled;
    if (enabled) {
      for (const line of this.logbook.recent(50)) this.#enqueue(line);
      this.off = this.logbook.on("line", (line) => this.#enqueue(line));
    } else {
      this.off?.();
      this.off = null;
      this.queue = [];
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      this.timer = null;
      this.retry.reset();
    }
  }

  /** The debug panel's switch: kept in `store` (`remote_logs`), and applied. */
  switchTo(enabled) {
    this.store?.set("remote_logs", Boolean(enabled));
    this.setEnabled(Boolean(enabled));
  }

  /** On again if it was switched on at the last page load. */
  restore() {
    if (this.store?.get("remote_logs") === true) this.setEnabled(true);
  }

  /** Send what is queued now (e.g. when the page is hidden). */
  flush() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.retry.cancel();
    return this.#send();
  }

  #enqueue(line) {
    const msg = line.msg.length > this.options.maxLineChars ? `${line.msg.slice(0, this.options.maxLineChars)}…` : line.msg;
    this.queue.push({ ...line, msg });
    const excess = this.queue.length - this.options.maxQueue;
    if (excess > 0) {
      this.queue.splice(0, excess);
      this.stats.dropped += excess;
    }
    this.#schedule(this.options.batchDelay);
  }

  #schedule(delay) {
    // A failed batch waits for its retry (retry.js); new lines go with it.
    if (this.timer !== null || this.retry.pending || !this.enabled) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.#send();
    }, delay);
  }

  async #send() {
    if (this.sending || !this.enabled || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.slice(0, this.options.maxBatchLines);
    const headers = { "Content-Type": "application/json" };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let retry = false;
    try {
      const response = await this.fetch(this.endpoint, {
        method: "POST", headers, keepalive: true,
        body: JSON.stringify({ client_id: this.clientId(), lines: batch }),
      });
      if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 429)) {
        // Delivered, or refused for good (a 4xx other than 429 will not get better): drop it.
        this.queue.splice(0, batch.length);
        if (response.ok) this.stats.sent += batch.length;
        else this.stats.lastError = `HTTP ${response.status}`;
        this.retry.reset();
      } else {
        retry = true;
        this.stats.lastError = `HTTP ${response.status}`;
      }
    } catch (error) {
      retry = true; // offline: keep the batch
      this.stats.lastError = String(error?.message ?? error);
    } finally {
      this.sending = false;
    }
    if (retry) {
      this.stats.failures += 1;
      this.retry.schedule();
    } else if (this.queue.length > 0) {
      this.#schedule(0);
    }
  }
}
