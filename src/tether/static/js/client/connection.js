// The one Socket.IO connection of a tab, kept alive on phones: its state machine and reconnect
// schedule, over socket.js (the socket, its requests) and liveness.js (is a "connected" socket
// really alive?). socket.io-client's own reconnection gives up after `reconnectionAttempts` and
// ignores `connect()` while it waits out a delay, so we switch it off and own the schedule
// (retry.js): forever, reset (and skipped) whenever the user comes back. A zombie is dropped with
// `socket.disconnect(); socket.connect()`, which builds a new connection at once. After a long
// absence a fresh link races the heartbeat probe (wakerace.js); whether the server's storage
// answers is storagehealth.js's.

import { STATES, connectionMachine, downState } from "./connstate.js";
import { ConnectMeter } from "./connmeter.js";
import { Emitter } from "./emitter.js";
import { Liveness } from "./liveness.js";
import { CONNECT_ERRORS, EVENTS } from "./protocol.js";
import { retryTimer } from "./retry.js";
import { SocketLink } from "./socket.js";
import { StorageHealth } from "./storagehealth.js";
import { realTimers } from "./timers.js";
import { WakeRace } from "./wakerace.js";

export { STATES };

export const DEFAULT_OPTIONS = Object.freeze({
  requestTimeout: 10000,
  connectTimeout: 8000, // Socket.IO's own timeout for opening a connection
  silenceLimit: null, // see Liveness; null: derived from the server's ping settings
  offlineAfterFailures: 3, // after this many failed attempts in a row, say offline (retries go on)
  transports: ["websocket", "polling"],
  path: "/socket.io", // the server's Socket.IO path (under the prefix where Tether is mounted)
  // heartbeat: {...}, watchdog: {...}: see HEARTBEAT_DEFAULTS, WATCHDOG_DEFAULTS
});

export class Connection extends Emitter {
  /**
   * `url` the server origin; `io` socket.io-client's; `auth()` read at every attempt,
   * `{token?, client_id}`; `env` `{on, visible(), online()}`; `timers` `{now, setTimeout, clearTimeout}`.
   */
  constructor({ url, io, auth, env, timers = realTimers, random = Math.random, log = () => {},
                options = {} }) {
    super();
    Object.assign(this, { env, timers, log });
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.machine = connectionMachine({ timers, onChange: (change) => this.emit("state", change) });
    this.retry = retryTimer(() => this.#connectNow("retry"), { timers, random });
    this.liveness = new Liveness({
      env, timers, log, options,
      push: (...args) => this.push(...args), connected: () => this.connected,
      lastReceivedAt: () => this.link.lastReceivedAt, onWake: (signal) => this.wake(signal),
      onDead: (reason, startedAt) => { this.emit("zombie", { reason }); this.#drop(reason, startedAt); },
      onTick: (now) => this.#onTick(now),
      onOffline: () => { if (!this.connected) this.machine.go(STATES.OFFLINE, "browser offline"); },
      onRtt: (rtt) => { this.stats.rttMs = rtt; this.emit("stats", this.stats); },
      onRace: (reason, startedAt) => this.#race(reason, startedAt),
      onAlive: () => {
        if (this.race.discard("the probe was answered: the connection is alive", { kept: true })) this.meter.forget();
      },
    });
    this.newLink = () => this.#newLink(io, url, auth);
    this.link = this.newLink();
    this.race = new WakeRace({
      newLink: this.newLink, connected: () => this.connected, log,
      onWon: (startedAt) => this.#spareWon(startedAt), onOpened: (reason) => this.#adoptSpare(reason),
    });
    this.storage = new StorageHealth({ log, onChange: () => this.emit("stats", this.stats) });
    this.meter = new ConnectMeter(this.race.counts);
    this.stats = this.meter.stats;
    Object.assign(this, { stopped: true, unauthorized: false });
  }

  /** A socket whose events count only while it is the connection's link. */
  #newLink(io, url, auth) {
    const mine = (handler) => (...args) => { if (this.link === link) handler(...args); };
    const link = new SocketLink({
      io, url, auth, timers: this.timers, options: this.options, handlers: {
        onConnect: mine(() => this.#onConnect()),
        onDisconnect: mine((reason, { expected }) => this.#onDisconnect(reason, expected)),
        onConnectError: mine((error) => this.#onConnectError(error)),
        onEvent: mine((name, payload) => this.emit("event", name, payload)),
      },
    });
    return link;
  }

  get state() { return this.machine.state; }
  get since() { return this.machine.since; }
  get transitions() { return this.machine.history; }
  get connected() { return this.state === STATES.CONNECTED; }
  get sid() { return this.link.sid; }
  get transport() { return this.link.transport; }
  get ping() { return this.liveness.ping; } // the server's ping settings, from `hello.limits`
  get spare() { return this.race.spare; } // the wake-up race's fresh link, while the race is on
  get storageDown() { return this.storage.down; } // the last request needing storage got `unavailable`

  /** Create the socket and connect; listen to the page's wake-up signals. */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.liveness.start();
    this.#connectNow("start");
  }

  /** Disconnect for good (until start()). */
  stop() {
    this.stopped = true;
    this.liveness.stop();
    this.retry.cancel();
    this.race.discard("stopped");
    this.machine.go(STATES.OFFLINE, "stopped");
    this.link.close();
  }

  /** The auth changed (a token was set): try again at once. */
  reauthenticate() { this.unauthorized = false; this.#connectNow("auth"); }

  /** A request with ack and timeout; while not connected it fails at once with `unavailable`. */
  push(event, payload, { timeout = this.options.requestTimeout } = {}) {
    const push = this.link.push(event, payload, { timeout, up: this.connected });
    // The heartbeat never reads storage, so only other requests tell whether the database is up.
    if (event !== EVENTS.HEARTBEAT) this.storage.watch(push, () => this.connected);
    return push;
  }

  /** When the next scheduled attempt fires (timers.now() clock), or null. */
  get nextAttemptAt() { return this.retry.dueAt; }

  /** The user pressed "Retry now": skip the wait, like a wake-up. */
  retryNow() { this.wake("retry now"); }

  /** The user may be back: reconnect at once if disconnected, else check the connection is alive. */
  wake(reason) {
    if (this.stopped || this.unauthorized) return;
    const now = this.timers.now();
    const away = this.liveness.takeAway(now);
    this.log("info", `[Connection] wake: ${reason} state=${this.state} away=${away}ms`);
    this.emit("wake", { reason, away, at: now });
    if (!this.connected) {
      const waiting = this.retry.pending;
      this.retry.reset();
      // An attempt younger than a second is given its chance, unless it was only a wait.
      const age = this.link.attemptAge(now);
      if (waiting || age === null || age >= 1000) this.#connectNow(`wake:${reason}`);
      return;
    }
    this.liveness.check(reason, away, now);
  }

  /** Check that a connection saying "connected" is alive (a heartbeat probe; unanswered, the
   *  socket is dropped). Nothing to check while not connected. */
  probe(reason) {
    if (this.connected && !this.stopped) this.liveness.heartbeat.probe(reason);
  }

  /** Close the transport and build a new connection at once. */
  reconnectNow(reason = "manual") { this.#drop(reason, this.timers.now()); }

  #connectNow(reason) {
    if (this.stopped) return;
    this.retry.cancel();
    this.meter.begin(this.timers.now());
    this.log("info", `[Connection] connecting (${reason})`);
    this.machine.go(this.env.online() ? STATES.CONNECTING : STATES.OFFLINE, reason);
    // A spare already opening is a fresh attempt ahead of this one: it takes over.
    if (this.race.running) this.#adoptSpare(reason);
    else this.link.restart();
  }

  #drop(reason, startedAt) {
    this.meter.zombie(startedAt);
    this.log("warn", `[Connection] dropping the connection: ${reason}`);
    this.retry.reset();
    this.#connectNow(`drop: ${reason}`);
  }

  /** The wake-up race: open a spare link's transport beside the probe (liveness.js asks). */
  #race(reason, startedAt) {
    if (this.race.running || !this.connected) return;
    this.meter.restart(startedAt);
    this.race.start(reason, startedAt);
  }

  /** The spare's transport opened before the probe was answered: the old socket is taken for
   *  dead (and the other tabs told, as for any zombie: they only probe theirs, tabs.js). */
  #spareWon(startedAt) {
    const reason = "the fresh connection opened before the probe was answered";
    this.emit("zombie", { reason });
    this.#drop(reason, startedAt);
  }

  /** The old link lost the race: the spare becomes the link and joins (subscribes follow its
   *  connect); the old one's in-flight requests fail (their callers retry on the new link, the
   *  outbox with the same client_msg_id) and nothing it still receives is heard. */
  #adoptSpare(reason, { closed = false } = {}) {
    const [old, spare] = [this.link, this.race.take(reason)];
    this.link = spare;
    if (!closed) { // else #onDisconnect has done this already
      this.liveness.disconnected();
      old.failInflight();
      old.close();
      this.emit("disconnect", { reason: `replaced: ${reason}` });
    }
    spare.connect();
  }

  #onConnect() {
    const now = this.timers.now();
    const { reconnect, recoveryStartedAt } = this.meter.connected(now);
    this.retry.reset();
    this.machine.go(STATES.CONNECTED, reconnect ? "reconnected" : "connected");
    this.log("info", `[Connection] ${reconnect ? "reconnect" : "connect"} sid=${this.sid} transport=${this.transport} in ${this.stats.lastConnectMs}ms`);
    this.emit("connect", { reconnect, recoveryStartedAt, at: now });
    // A first round trip gives the wake-up probe its timeout.
    this.liveness.heartbeat.probe("connect");
  }

  #onDisconnect(reason, expected) {
    // Leave `connected` before failing the pushes in flight: their callers decide from the state
    // whether to retry now (connected) or after the next connect.
    if (this.connected) this.machine.go(this.#downState(), reason);
    this.liveness.disconnected();
    this.link.failInflight();
    this.log("info", `[Connection] disconnect: ${reason}`);
    this.emit("disconnect", { reason });
    if (expected || this.stopped) return;
    this.meter.begin(this.timers.now());
    // The server closed this live connection: another tab holds our client_id (a duplicated tab
    // copies sessionStorage); the app picks a new id before the retry.
    if (reason === "io server disconnect") this.emit("kicked", { reason });
    if (this.race.running) return this.#adoptSpare(`the old connection closed: ${reason}`, { closed: true });
    this.#scheduleRetry(reason);
  }

  #onConnectError(error) {
    const message = error?.message ?? String(error);
    this.meter.failed();
    this.log("warn", `[Connection] connect_error: ${message}`);
    if (message === CONNECT_ERRORS.INVALID) this.emit("invalid_client", { message });
    if (message !== CONNECT_ERRORS.UNAUTHORIZED) return this.#scheduleRetry(message);
    this.unauthorized = true; // no retry until the auth changes
    this.machine.go(STATES.OFFLINE, "unauthorized");
    this.emit("unauthorized", { message });
  }

  #downState() {
    const { failures } = this.stats;
    return downState({ online: this.env.online(), failures, offlineAfterFailures: this.options.offlineAfterFailures });
  }

  #scheduleRetry(reason) {
    if (this.stopped || this.unauthorized || this.retry.pending) return;
    this.machine.go(this.#downState(), reason);
    const delay = this.retry.schedule();
    this.log("info", `[Connection] retry in ${delay}ms (try ${this.retry.tries + 1})`);
  }

  /** A watchdog tick on a healthy page: restart an attempt that never ended. */
  #onTick(now) {
    const age = this.link.attemptAge(now);
    if (!this.connected && age !== null && age > this.options.connectTimeout + 2000) this.#connectNow("attempt stuck");
  }
}
