// Follows one session over the shared connection: subscribes, buffers live events while the
// subscribe is pending, merges by seq (merge.js), detects gaps and re-subscribes, and keeps the
// view in the tab's storage so a reload resumes from lastSeq instead of starting over.
//
// The stream position is (epoch, lastSeq): lastSeq counts changes within one log of the session,
// and the epoch names that log. A server whose log can no longer continue the one we saw (a new
// or restored database, a reset session) has another epoch and answers our subscribe with
// `reset` instead of "resuming" onto a different history.

import { Emitter } from "./emitter.js";
import {
  applyDelta, applyHistory, applyLiveMessage, applySubscribeAck, createView, deserializeView,
  oldestPosition, orderedMessages, serializeView,
} from "./merge.js";
import { StateMachine } from "./machine.js";
import { EVENTS } from "./protocol.js";
import { retryTimer } from "./retry.js";
import { realTimers } from "./timers.js";

export const FOLLOWER_STATES = Object.freeze({
  IDLE: "idle", // not subscribed on the current connection
  SUBSCRIBING: "subscribing",
  LIVE: "live",
  GONE: "gone", // the server says no such session (for good)
});

const TRANSITIONS = Object.freeze({
  [FOLLOWER_STATES.IDLE]: [FOLLOWER_STATES.SUBSCRIBING],
  [FOLLOWER_STATES.SUBSCRIBING]: [FOLLOWER_STATES.LIVE, FOLLOWER_STATES.IDLE, FOLLOWER_STATES.GONE],
  [FOLLOWER_STATES.LIVE]: [FOLLOWER_STATES.SUBSCRIBING, FOLLOWER_STATES.IDLE],
  [FOLLOWER_STATES.GONE]: [],
});

export const FOLLOWER_DEFAULTS = Object.freeze({
  gapTimeout: 1000, // rule 4: how long a held message may wait for its gap to fill
  persistDelay: 250,
  limit: 15,
  keep: 200, // messages kept in storage per session
});

export class SessionFollower extends Emitter {
  /**
   * @param {object} deps
   * @param {string} deps.sessionId
   * @param {{connected: boolean, push: Function}} deps.connection
   * @param {import("./storage.js").KeyValueStore | null} [deps.store]  the tab's view storage
   */
  constructor({ sessionId, connection, store = null, timers = realTimers, random = Math.random,
                log = () => {}, options = {} }) {
    super();
    Object.assign(this, { sessionId, connection, store, timers, log });
    this.options = { ...FOLLOWER_DEFAULTS, ...options };
    const stored = store?.get(sessionId);
    this.view = deserializeView(sessionId, stored);
    /** The epoch of the log lastSeq counts in (from the last subscribe ack), or null. */
    this.epoch = this.view.synced && typeof stored?.epoch === "string" ? stored.epoch : null;
    this.machine = new StateMachine({ states: FOLLOWER_STATES, transitions: TRANSITIONS, initial: FOLLOWER_STATES.IDLE, timers });
    this.pending = null; // the subscribe push waited for
    this.buffer = [];
    this.again = false;
    this.gapTimer = null;
    this.retry = retryTimer(() => this.subscribe("retry"), { timers, random });
    this.persistTimer = null;
    this.loadingOlder = false;
    this.lastSync = null; // {mode, reason, at, count}
  }

  get state() {
    return this.machine.state;
  }

  get lastSeq() {
    return this.view.lastSeq;
  }

  get messages() {
    return orderedMessages(this.view);
  }

  /**
   * Subscribe (again): with after_seq = lastSeq when the view is synced, else for the recent
   * messages. Never skipped while the connection is up: a re-subscribe always gets a full answer.
   */
  subscribe(reason = "follow") {
    if (this.state === FOLLOWER_STATES.GONE) return;
    this.retry.cancel();
    if (!this.connection.connected) {
      this.machine.go(FOLLOWER_STATES.IDLE, "not connected");
      return;
    }
    if (this.state === FOLLOWER_STATES.SUBSCRIBING) {
      this.again = true;
      return;
    }
    this.machine.go(FOLLOWER_STATES.SUBSCRIBING, reason);
    this.buffer = [];
    const afterSeq = this.view.synced ? this.view.lastSeq : null;
    const payload = { session_id: this.sessionId, after_seq: afterSeq, limit: this.options.limit };
    // The epoch goes with after_seq: a server on another log answers `reset`.
    if (afterSeq !== null && this.epoch !== null) payload.epoch = this.epoch;
    const startedAt = this.timers.now();
    this.log("info", `[Session] subscribe ${this.sessionId} after_seq=${afterSeq} epoch=${payload.epoch ?? "-"} (${reason})`);
    const push = this.connection.push(EVENTS.SUBSCRIBE, payload);
    this.pending = push;
    push
      .receive("ok", (ack) => this.#settled(push) && this.#onAck(ack, reason, startedAt))
      .receive("error", (error) => this.#settled(push) && this.#onFailure(error.code, error.message))
      .receive("timeout", () => this.#settled(push) && this.#onFailure("timeout", "no answer"));
  }

  /** The connection dropped: events are no longer flowing; the next connect re-subscribes. */
  disconnected() {
    if (this.state !== FOLLOWER_STATES.GONE) this.machine.go(FOLLOWER_STATES.IDLE, "disconnected");
    this.pending = null;
    this.buffer = [];
    this.again = false;
    this.#clearTimer("gapTimer");
    this.retry.cancel();
  }

  /** A live `message` event of this session. */
  onMessage(payload) {
    if (this.state === FOLLOWER_STATES.SUBSCRIBING) {
      this.buffer.push({ type: "message", payload });
      return;
    }
    if (this.state !== FOLLOWER_STATES.LIVE) return;
    const result = applyLiveMessage(this.view, payload.message);
    if (result !== "stale") this.#changed();
    this.#checkGap();
  }

  /** A live `delta` event of this session. */
  onDelta(payload) {
    if (this.state === FOLLOWER_STATES.SUBSCRIBING) {
      this.buffer.push({ type: "delta", payload });
      return;
    }
    if (this.state !== FOLLOWER_STATES.LIVE) return;
    const result = applyDelta(this.view, payload);
    if (result === "applied") this.#changed();
    else if (result === "gap") this.subscribe(`delta gap at chunk ${payload.chunk}`);
  }

  /** Load older messages for scroll-back. Resolves to true when some were added. */
  async loadOlder() {
    const before = oldestPosition(this.view);
    if (this.loadingOlder || !this.view.hasOlder || before <= 1) return false;
    this.loadingOlder = true;
    try {
      const { status, response } = await this.connection
        .push(EVENTS.HISTORY, { session_id: this.sessionId, before_position: before, limit: this.options.limit })
        .promise();
      if (status !== "ok") return false;
      applyHistory(this.view, response.messages, response.has_more);
      this.#changed();
      return response.messages.length > 0;
    } finally {
      this.loadingOlder = false;
    }
  }

  /** The message a `send` ack returned (the live event may come later or never, if we are away). */
  applyOwnMessage(message) {
    // Through the live path so that lastSeq only moves contiguously.
    if (this.state === FOLLOWER_STATES.SUBSCRIBING) this.buffer.push({ type: "message", payload: { message } });
    else if (this.state === FOLLOWER_STATES.LIVE && applyLiveMessage(this.view, message) !== "stale") this.#changed();
    this.#checkGap();
  }

  /** Stop following; the stored view is kept unless `forget`. */
  close({ forget = false } = {}) {
    this.#clearTimer("gapTimer");
    this.retry.cancel();
    this.#clearTimer("persistTimer");
    if (forget) this.store?.delete(this.sessionId);
    else this.persistNow();
    this.pending = null;
    if (this.state !== FOLLOWER_STATES.GONE) this.machine.go(FOLLOWER_STATES.IDLE, "closed");
  }

  persistNow() {
    this.#clearTimer("persistTimer");
    this.store?.set(this.sessionId, { ...serializeView(this.view, this.options.keep), epoch: this.epoch });
  }

  // -- internals --------------------------------------------------------------------------------

  /** Whether `push` is still the subscribe this follower waits for (not one of a closed past). */
  #settled(push) {
    if (this.pending !== push || this.state !== FOLLOWER_STATES.SUBSCRIBING) return false;
    this.pending = null;
    return true;
  }

  #onAck(ack, reason, startedAt) {
    const buffered = this.buffer;
    this.buffer = [];
    const { gap } = applySubscribeAck(this.view, ack, buffered);
    // lastSeq is now head_seq of this session's log: remember which log (old servers send none).
    this.epoch = typeof ack.session?.epoch === "string" ? ack.session.epoch : null;
    this.retry.reset();
    this.machine.go(FOLLOWER_STATES.LIVE, ack.mode);
    const at = this.timers.now();
    this.lastSync = { mode: ack.mode, reason, at, ms: at - startedAt, count: ack.messages.length };
    this.log("info", `[Session] ${this.sessionId} ${ack.mode}: ${ack.messages.length} messages, head_seq=${ack.head_seq}, ${at - startedAt}ms`);
    this.#changed();
    this.emit("synced", this.lastSync);
    if (gap || this.again) {
      this.again = false;
      this.subscribe(gap ? "delta gap after subscribe" : "asked again while subscribing");
      return;
    }
    this.#checkGap();
  }

  #onFailure(code, message) {
    this.log("warn", `[Session] subscribe ${this.sessionId} failed: ${code} ${message}`);
    if (code === "not_found") {
      this.machine.go(FOLLOWER_STATES.GONE, code);
      this.emit("gone", { code });
      return;
    }
    this.machine.go(FOLLOWER_STATES.IDLE, code);
    this.buffer = [];
    this.again = false;
    // Disconnected: the next connect subscribes again; connected: after the retry policy's delay.
    if (this.connection.connected) this.retry.schedule();
  }

  #checkGap() {
    if (this.view.held.size === 0) {
      this.#clearTimer("gapTimer");
      return;
    }
    if (this.gapTimer !== null) return;
    this.gapTimer = this.timers.setTimeout(() => {
      this.gapTimer = null;
      if (this.view.held.size > 0) this.subscribe(`gap after seq ${this.view.lastSeq}`);
    }, this.options.gapTimeout);
  }

  #changed() {
    this.emit("change", this);
    if (this.persistTimer === null && this.store) {
      this.persistTimer = this.timers.setTimeout(() => {
        this.persistTimer = null;
        this.persistNow();
      }, this.options.persistDelay);
    }
  }

  #clearTimer(name) {
    if (this[name] !== null) this.timers.clearTimeout(this[name]);
    this[name] = null;
  }
}
