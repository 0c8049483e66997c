// The one Socket.IO connection of a tab, kept alive on phones: its state machine (connstate.js)
// tied to its parts. Its links (links.js, socket.js: the socket, its requests; after a long absence
// a fresh link races the heartbeat probe, wakerace.js), whether a "connected" socket is really
// alive (liveness.js), when to try again (reconnect.js, on the one retry policy of retry.js), its
// counters (connmeter.js) and whether the server's storage answers (storagehealth.js). A zombie is
// dropped with `socket.disconnect(); socket.connect()`, which builds a new connection at once.

import { STATES, connectionMachine } from "./connstate.js";
import { ConnectMeter } from "./connmeter.js";
import { Emitter } from "./emitter.js";
import { Liveness } from "./liveness.js";
import { Links } from "./links.js";
import { CONNECT_ERRORS, EVENTS } from "./protocol.js";
import { Reconnect } from "./reconnect.js";
import { SocketLink } from "./socket.js";
import { StorageHealth } from "./storagehealth.js";
import { realTimers } from "./timers.js";

export { STATES };

export const DEFAULT_OPTIONS = Object.freeze({
  requestTimeout: 10000,
  connectTimeout: 8000, // Socket.IO's own timeout for opening a connection
  silenceLimit: null, // see Liveness; null: derived from the server's ping settings
  // A request on a link that has received nothing for longer than this goes with a heartbeat
  // probe beside it: on a zombie (still "connected") a Stop or a send then finds the socket dead
  // in the probe's timeout (1.5 s at most), not in its own (10 s), and is tried on the next one.
  probeQuietAfter: 2000,
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
    Object.assign(this, { env, timers, log, stopped: true, unauthorized: false });
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.machine = connectionMachine({ timers, onChange: (change) => this.emit("state", change) });
    this.liveness = new Liveness({
      env, timers, log, options,
      push: (...args) => this.push(...args), connected: () => this.connected,
      lastReceivedAt: () => this.link.lastReceivedAt, onWake: (signal) => this.wake(signal),
      onDead: (reason, startedAt) => this.#dead(reason, startedAt),
      onTick: (now) => this.reconnect.tick(now),
      onOffline: () => { if (!this.connected) this.machine.go(STATES.OFFLINE, "browser offline"); },
      onRtt: (rtt) => { this.stats.rttMs = rtt; this.emit("stats", this.stats); },
      onRace: (reason, startedAt) => this.links.startRace(reason, startedAt), onAlive: () => this.links.alive(),
    });
    this.meter = new ConnectMeter({ fresh: 0, kept: 0 });
    this.stats = this.meter.stats;
    this.links = new Links({
      open: (handlers) => new SocketLink({ io, url, auth, timers, options: this.options, handlers }),
      handlers: {
        onConnect: () => this.#onConnect(),
        onDisconnect: (reason, { expected }) => this.#onDisconnect(reason, expected),
        onConnectError: (error) => this.#onConnectError(error),
        onEvent: (name, payload) => this.emit("event", name, payload),
      },
      connected: () => this.connected, meter: this.meter, log,
      onDead: (reason, startedAt) => this.#dead(reason, startedAt),
      onLeave: () => this.liveness.disconnected(),
      onReplaced: (reason) => this.emit("disconnect", { reason: `replaced: ${reason}` }),
    });
    this.race = this.links.race;
    this.storage = new StorageHealth({ log, onChange: () => this.emit("stats", this.stats) });
    this.reconnect = new Reconnect({
      machine: this.machine, meter: this.meter, env, timers, random, log, options: this.options,
      stopped: () => this.stopped, unauthorized: () => this.unauthorized,
      attemptAge: (now) => this.link.attemptAge(now), attempt: (reason) => this.links.restart(reason),
    });
  }

  get state() { return this.machine.state; }
  get since() { return this.machine.since; }
  get transitions() { return this.machine.history; }
  get connected() { return this.state === STATES.CONNECTED; }
  get link() { return this.links.link; } // the socket whose events count (links.js)
  get sid() { return this.link.sid; }
  get transport() { return this.link.transport; }
  get ping() { return this.liveness.ping; } // the server's ping settings, from `hello.limits`
  get spare() { return this.race.spare; } // the wake-up race's fresh link, while the race is on
  get storageDown() { return this.storage.down; } // the last request needing storage got `unavailable`
  get retry() { return this.reconnect.timer; } // the reconnect schedule's Timer (its tries, pending)

  /** Create the socket and connect; listen to the page's wake-up signals. */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.liveness.start();
    this.reconnect.now("start");
  }

  /** Disconnect for good (until start()). */
  stop() {
    this.stopped = true;
    this.liveness.stop();
    this.reconnect.cancel();
    this.race.discard("stopped");
    this.machine.go(STATES.OFFLINE, "stopped");
    this.link.close();
  }

  /** The auth changed (a token was set): try again at once. */
  reauthenticate() { this.unauthorized = false; this.reconnect.now("auth"); }

  /** A request with ack and timeout; while not connected it fails at once with `unavailable`. */
  push(event, payload, { timeout = this.options.requestTimeout } = {}) {
    const push = this.link.push(event, payload, { timeout, up: this.connected });
    if (event === EVENTS.HEARTBEAT) return push;
    // The heartbeat never reads storage, so only other requests tell whether the database is up.
    this.storage.watch(push, () => this.connected);
    const quiet = this.timers.now() - (this.link.lastReceivedAt ?? -Infinity);
    if (quiet > this.options.probeQuietAfter) this.probe(`${event} after ${quiet}ms of silence`);
    return push;
  }

  /** When the next scheduled attempt fires (timers.now() clock), or null. */
  get nextAttemptAt() { return this.reconnect.dueAt; }

  /** The user pressed "Retry now": skip the wait, like a wake-up. */
  retryNow() { this.wake("retry now"); }

  /** The user may be back: reconnect at once if disconnected, else check the connection is alive. */
  wake(reason) {
    if (this.stopped || this.unauthorized) return;
    const now = this.timers.now();
    const away = this.liveness.takeAway(now);
    this.log("info", `[Connection] wake: ${reason} state=${this.state} away=${away}ms`);
    this.emit("wake", { reason, away, at: now });
    if (this.connected) this.liveness.check(reason, away, now);
    else this.reconnect.wake(reason, now);
  }

  /** Check that a connection saying "connected" is alive (a heartbeat probe; unanswered, the
   *  socket is dropped). Nothing to check while not connected. */
  probe(reason) {
    if (this.connected && !this.stopped) this.liveness.heartbeat.probe(reason);
  }

  /** Close the transport and build a new connection at once. */
  reconnectNow(reason = "manual") { this.reconnect.drop(reason, this.timers.now()); }

  /** The socket was found dead at `startedAt` (the other tabs are told: tabs.js): replace it now. */
  #dead(reason, startedAt) {
    this.emit("zombie", { reason });
    this.reconnect.drop(reason, startedAt);
  }

  #onConnect() {
    const now = this.timers.now();
    const { reconnect, recoveryStartedAt } = this.meter.connected(now);
    this.reconnect.connected();
    this.machine.go(STATES.CONNECTED, reconnect ? "reconnected" : "connected");
    this.log("info", `[Connection] ${reconnect ? "reconnect" : "connect"} sid=${this.sid} transport=${this.transport} in ${this.stats.lastConnectMs}ms`);
    this.emit("connect", { reconnect, recoveryStartedAt, at: now });
    // A first round trip gives the wake-up probe its timeout.
    this.liveness.heartbeat.probe("connect");
  }

  #onDisconnect(reason, expected) {
    // Leave `connected` before failing the pushes in flight: their callers decide from the state
    // whether to retry now (connected) or after the next connect.
    if (this.connected) this.machine.go(this.reconnect.downState(), reason);
    this.liveness.disconnected();
    this.link.failInflight();
    this.log("info", `[Connection] disconnect: ${reason}`);
    this.emit("disconnect", { reason });
    if (expected || this.stopped) return;
    this.meter.begin(this.timers.now());
    // The server closed this live connection: another tab holds our client_id (a duplicated tab
    // copies sessionStorage); the app picks a new id before the retry.
    if (reason === "io server disconnect") this.emit("kicked", { reason });
    if (this.race.running) return this.links.adopt(`the old connection closed: ${reason}`, { closed: true });
    this.reconnect.later(reason);
  }

  #onConnectError(error) {
    const message = error?.message ?? String(error);
    this.meter.failed();
    this.log("warn", `[Connection] connect_error: ${message}`);
    if (message === CONNECT_ERRORS.INVALID) this.emit("invalid_client", { message });
    if (message !== CONNECT_ERRORS.UNAUTHORIZED) return this.reconnect.later(message);
    this.unauthorized = true; // no retry until the auth changes
    this.machine.go(STATES.OFFLINE, "unauthorized");
    this.emit("unauthorized", { message });
  }
}
