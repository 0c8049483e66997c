// The one Socket.IO connection of a tab, kept alive on phones.
//
// Why it is built this way (see docs and the mobile reconnect notes):
// - A phone that backgrounds a page often comes back holding a socket that says "connected" but is
//   dead (no FIN ever arrived). socket.io-client only notices after pingInterval + pingTimeout, and
//   `socket.connect()` on such a zombie does nothing. So on every sign that the user is back we
//   probe with an application `heartbeat`; no answer within a short timeout means "zombie": we
//   drop it with `socket.disconnect(); socket.connect()`, which builds a new connection at once.
// - socket.io-client's own reconnection gives up after `reconnectionAttempts` and ignores
//   `connect()` while it waits out a delay. We switch it off and own the schedule: full-jitter
//   backoff, forever, reset (and skipped) whenever the user comes back.
// - Emits while disconnected would sit in socket.io-client's send buffer and go out later behind
//   our back; requests made while disconnected fail at once with `unavailable` instead, and the
//   callers (outbox, session followers) retry after the next `connect`.

import { Backoff } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { CONNECT_ERRORS, EVENTS, SERVER_EVENTS } from "./protocol.js";
import { Push } from "./push.js";
import { realTimers } from "./timers.js";

export const STATES = Object.freeze({
  CONNECTED: "connected",
  /** Not connected, trying (an attempt in flight or a short wait before the next). */
  CONNECTING: "connecting",
  /** Not connected: the browser says it is offline, the server keeps failing, or we stopped. */
  OFFLINE: "offline",
});

/** Browser events that mean "the user may be back": each one checks the connection. */
export const WAKE_SIGNALS = Object.freeze(["visibilitychange", "pageshow", "focus", "online", "resume"]);

export const DEFAULT_OPTIONS = Object.freeze({
  /** Longest wait for the wake-up heartbeat; the actual wait adapts to the measured round trip. */
  probeTimeout: 1500,
  probeTimeoutMin: 400,
  requestTimeout: 10000,
  /** Socket.IO's own timeout for opening a connection. */
  connectTimeout: 8000,
  watchdogInterval: 2000,
  /** A watchdog tick this much later than planned means the page's JavaScript was frozen. */
  frozenGap: 4000,
  /** Silence (no packet, no ping) longer than this while visible triggers a probe; null: derived
   *  from the server's ping interval. */
  silenceLimit: null,
  /** After this many failed attempts in a row the state says offline (retries go on). */
  offlineAfterFailures: 3,
  transports: ["websocket", "polling"],
});

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

export class Connection extends Emitter {
  /**
   * @param {object} deps
   * @param {string} deps.url        server origin, e.g. "http://127.0.0.1:8000"
   * @param {Function} deps.io       socket.io-client's `io`
   * @param {() => {token?: string, client_id: string}} deps.auth  read at every attempt
   * @param {{on: Function, visible: () => boolean, online: () => boolean}} deps.env
   * @param {object} [deps.timers]   `{now, setTimeout, clearTimeout}`
   * @param {() => number} [deps.random]
   * @param {(level: string, msg: string) => void} [deps.log]
   */
  constructor({ url, io, auth, env, timers = realTimers, random = Math.random, log = () => {}, options = {} }) {
    super();
    Object.assign(this, { url, io, auth, env, timers, log });
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.backoff = new Backoff({ random });
    this.socket = null;
    this.state = STATES.OFFLINE;
    this.since = timers.now();
    this.transitions = [];
    this.stopped = true;
    this.unauthorized = false;
    this.retryTimer = null;
    this.watchdogTimer = null;
    this.lastTick = null;
    this.attemptStartedAt = null;
    this.recoveryStartedAt = null;
    this.hiddenAt = null;
    this.probe = null;
    this.expectClose = false;
    this.inflight = new Set();
    this.offEnv = [];
    this.stats = {
      connects: 0, reconnects: 0, failures: 0, zombies: 0, rttMs: null, srtt: null,
      lastConnectMs: null, lastReceivedAt: null, lastDisconnectReason: null,
    };
  }

  get connected() {
    return this.state === STATES.CONNECTED;
  }

  get sid() {
    return this.socket?.id ?? null;
  }

  get transport() {
    return this.socket?.io?.engine?.transport?.name ?? null;
  }

  /** Create the socket and connect; listen to the environment's wake-up signals. */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    if (!this.socket) this.#createSocket();
    for (const signal of WAKE_SIGNALS) this.offEnv.push(this.env.on(signal, () => this.#onSignal(signal)));
    for (const signal of ["offline", "freeze", "pagehide"]) {
      this.offEnv.push(this.env.on(signal, () => this.#onSignal(signal)));
    }
    if (!this.env.visible()) this.hiddenAt = this.timers.now();
    this.#scheduleWatchdog();
    this.#connectNow("start");
  }

  /** Disconnect for good (until start()). */
  stop() {
    this.stopped = true;
    for (const off of this.offEnv.splice(0)) off();
    this.#clearRetry();
    if (this.watchdogTimer !== null) this.timers.clearTimeout(this.watchdogTimer);
    this.watchdogTimer = null;
    this.socket?.disconnect();
    this.#setState(STATES.OFFLINE, "stopped");
  }

  /** The auth changed (a token was set): try again at once. */
  reauthenticate() {
    this.unauthorized = false;
    if (!this.stopped) this.#connectNow("auth");
  }

  /**
   * A request with acknowledgement and timeout. While not connected the push fails at once with
   * `unavailable`, so nothing waits in socket.io-client's buffer.
   */
  push(event, payload, { timeout = this.options.requestTimeout } = {}) {
    const push = new Push(
      (name, body, ack) => this.socket.emit(name, body, ack),
      event, payload, { timeout, timers: this.timers },
    );
    if (!this.connected || !this.socket?.connected) {
      push.settle("error", { code: "unavailable", message: "not connected" });
      return push;
    }
    this.inflight.add(push);
    const done = () => this.inflight.delete(push);
    for (const status of ["ok", "error", "timeout"]) push.receive(status, done);
    push.receive("ok", () => this.#touch());
    return push.send();
  }

  /** The user may be back: reconnect at once if disconnected, else check the connection is alive. */
  wake(reason) {
    if (this.stopped || this.unauthorized) return;
    const now = this.timers.now();
    const away = this.hiddenAt === null ? 0 : now - this.hiddenAt;
    if (this.env.visible()) this.hiddenAt = null;
    this.log("info", `[Connection] wake: ${reason} state=${this.state} away=${away}ms`);
    this.emit("wake", { reason, away, at: now });
    if (!this.connected) {
      this.backoff.reset();
      const young = this.attemptStartedAt !== null && now - this.attemptStartedAt < 1000;
      if (this.retryTimer !== null || !young) this.#connectNow(`wake:${reason}`);
      return;
    }
    if (away > this.#serverTimeout()) {
      // The server has dropped us by now, whatever the socket says: skip the probe.
      this.#drop(`away ${away}ms > server timeout`, now);
      return;
    }
    this.#probe(reason);
  }

  /** Close the transport and build a new connection at once. */
  reconnectNow(reason = "manual") {
    this.#drop(reason, this.timers.now());
  }

  // -- internals --------------------------------------------------------------------------------

  #createSocket() {
    const { connectTimeout, transports } = this.options;
    this.socket = this.io(this.url, {
      autoConnect: false,
      reconnection: false,
      forceNew: true,
      transports,
      tryAllTransports: true,
      timeout: connectTimeout,
      auth: (callback) => callback(this.auth()),
    });
    const socket = this.socket;
    socket.on("connect", () => this.#onConnect());
    socket.on("disconnect", (reason) => this.#onDisconnect(reason));
    socket.on("connect_error", (error) => this.#onConnectError(error));
    for (const name of SERVER_EVENTS) {
      socket.on(name, (payload) => {
        this.#touch();
        this.emit("event", name, payload);
      });
    }
    // Pings and packets prove the connection alive (the Manager re-emits the engine's pings).
    socket.io?.on?.("ping", () => this.#touch());
    socket.io?.on?.("packet", () => this.#touch());
  }

  #onSignal(signal) {
    const now = this.timers.now();
    if (signal === "offline") {
      this.log("info", "[Connection] offline event");
      if (!this.connected) this.#setState(STATES.OFFLINE, "browser offline");
      return;
    }
    if (signal === "freeze" || signal === "pagehide" || (signal === "visibilitychange" && !this.env.visible())) {
      if (this.hiddenAt === null) this.hiddenAt = now;
      this.log("info", `[Connection] ${signal}: page hidden`);
      return;
    }
    this.wake(signal);
  }

  #connectNow(reason) {
    if (this.stopped) return;
    this.#clearRetry();
    const now = this.timers.now();
    if (this.recoveryStartedAt === null) this.recoveryStartedAt = now;
    this.attemptStartedAt = now;
    this.log("info", `[Connection] connecting (${reason})`);
    this.#setState(this.env.online() ? STATES.CONNECTING : STATES.OFFLINE, reason);
    // disconnect() first: connect() is a no-op on a socket that believes it is connected or is
    // between attempts; together they build a fresh connection at once.
    this.expectClose = true;
    this.socket.disconnect();
    this.expectClose = false;
    this.socket.connect();
  }

  #drop(reason, startedAt) {
    this.stats.zombies += 1;
    this.recoveryStartedAt = startedAt;
    this.log("warn", `[Connection] dropping the connection: ${reason}`);
    this.emit("zombie", { reason });
    this.backoff.reset();
    this.#connectNow(`drop: ${reason}`);
  }

  #probe(reason) {
    if (this.probe) return;
    const { probeTimeout, probeTimeoutMin } = this.options;
    const srtt = this.stats.srtt;
    const timeout = srtt === null ? probeTimeout : clamp(4 * srtt + 250, probeTimeoutMin, probeTimeout);
    const startedAt = this.timers.now();
    const push = this.push(EVENTS.HEARTBEAT, {}, { timeout });
    this.probe = push;
    push.receive("ok", () => {
      this.probe = null;
      this.#recordRtt(this.timers.now() - startedAt);
      this.log("info", `[Connection] heartbeat ok after ${reason}: ${this.stats.rttMs}ms`);
    });
    // An error answer still proves the server is there.
    push.receive("error", () => { this.probe = null; });
    push.receive("timeout", () => {
      this.probe = null;
      this.#drop(`heartbeat timed out after ${timeout}ms (${reason})`, startedAt);
    });
  }

  #recordRtt(rtt) {
    this.stats.rttMs = rtt;
    this.stats.srtt = this.stats.srtt === null ? rtt : Math.round(0.8 * this.stats.srtt + 0.2 * rtt);
    this.emit("stats", this.stats);
  }

  #onConnect() {
    const now = this.timers.now();
    const reconnect = this.stats.connects > 0;
    this.stats.connects += 1;
    if (reconnect) this.stats.reconnects += 1;
    this.stats.failures = 0;
    this.stats.lastConnectMs = this.recoveryStartedAt === null ? null : now - this.recoveryStartedAt;
    const recoveryStartedAt = this.recoveryStartedAt;
    this.recoveryStartedAt = null;
    this.attemptStartedAt = null;
    this.backoff.reset();
    this.#touch();
    this.#setState(STATES.CONNECTED, reconnect ? "reconnected" : "connected");
    this.log("info", `[Connection] ${reconnect ? "reconnect" : "connect"} sid=${this.sid} transport=${this.transport} in ${this.stats.lastConnectMs}ms`);
    this.emit("connect", { reconnect, recoveryStartedAt, at: now });
    // A first round trip gives the wake-up probe its timeout.
    this.#probe("connect");
  }

  #onDisconnect(reason) {
    this.stats.lastDisconnectReason = reason;
    for (const push of [...this.inflight]) push.settle("timeout", null);
    this.inflight.clear();
    this.probe = null;
    this.log("info", `[Connection] disconnect: ${reason}`);
    this.emit("disconnect", { reason });
    if (this.expectClose || this.stopped) return;
    if (this.recoveryStartedAt === null) this.recoveryStartedAt = this.timers.now();
    if (reason === "io server disconnect") {
      // The server closed this live connection: another tab holds our client_id (a duplicated
      // tab copies sessionStorage). The app picks a new id before the retry.
      this.emit("kicked", { reason });
    }
    this.#scheduleRetry(reason);
  }

  #onConnectError(error) {
    const message = error?.message ?? String(error);
    this.stats.failures += 1;
    this.attemptStartedAt = null;
    this.log("warn", `[Connection] connect_error: ${message}`);
    this.emit("connect_error", { message, data: error?.data });
    if (message === CONNECT_ERRORS.UNAUTHORIZED) {
      this.unauthorized = true;
      this.#setState(STATES.OFFLINE, "unauthorized");
      this.emit("unauthorized", { message });
      return;
    }
    if (message === CONNECT_ERRORS.INVALID) this.emit("invalid_client", { message });
    this.#scheduleRetry(message);
  }

  #scheduleRetry(reason) {
    if (this.stopped || this.unauthorized || this.retryTimer !== null) return;
    const delay = this.backoff.next();
    const failing = this.stats.failures >= this.options.offlineAfterFailures;
    this.#setState(this.env.online() && !failing ? STATES.CONNECTING : STATES.OFFLINE, reason);
    this.log("info", `[Connection] retry in ${delay}ms (attempt ${this.backoff.attempts})`);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.#connectNow("retry");
    }, delay);
  }

  #clearRetry() {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  #serverTimeout() {
    const engine = this.socket?.io?.engine;
    const interval = engine?._pingInterval > 0 ? engine._pingInterval : 25000;
    const timeout = engine?._pingTimeout > 0 ? engine._pingTimeout : 20000;
    return interval + timeout;
  }

  #silenceLimit() {
    if (this.options.silenceLimit !== null) return this.options.silenceLimit;
    const engine = this.socket?.io?.engine;
    return (engine?._pingInterval > 0 ? engine._pingInterval : 25000) + 5000;
  }

  #scheduleWatchdog() {
    this.lastTick = this.timers.now();
    this.watchdogTimer = this.timers.setTimeout(() => this.#watchdog(), this.options.watchdogInterval);
  }

  #watchdog() {
    if (this.stopped) return;
    const now = this.timers.now();
    const late = now - this.lastTick - this.options.watchdogInterval;
    this.#scheduleWatchdog();
    if (late > this.options.frozenGap) {
      // Our timers stopped: the page was frozen or the device slept. Treat it as an absence.
      if (this.hiddenAt === null) this.hiddenAt = now - late;
      this.wake("timer-gap");
      if (this.env.visible()) this.hiddenAt = null;
      return;
    }
    const silent = this.stats.lastReceivedAt === null ? 0 : now - this.stats.lastReceivedAt;
    if (this.connected && this.env.visible() && silent > this.#silenceLimit()) {
      this.#probe(`silent for ${silent}ms`);
    } else if (this.state !== STATES.CONNECTED && this.attemptStartedAt !== null &&
               now - this.attemptStartedAt > this.options.connectTimeout + 2000) {
      this.#connectNow("attempt stuck");
    }
  }

  #touch() {
    this.stats.lastReceivedAt = this.timers.now();
  }

  #setState(state, reason) {
    if (state === this.state) return;
    const at = this.timers.now();
    const change = { from: this.state, to: state, at, reason };
    this.state = state;
    this.since = at;
    this.transitions.push(change);
    if (this.transitions.length > 50) this.transitions.shift();
    this.emit("state", change);
  }
}
