// The socket.io-client socket as the Connection uses it: built with its own reconnection off,
// requests as Pushes that fail at once while it is down (nothing waits in socket.io-client's
// buffer to go out later behind our back), and the time anything last arrived.

import { SERVER_EVENTS } from "./protocol.js";
import { Push } from "./push.js";
import { realTimers } from "./timers.js";

export class SocketLink {
  /**
   * @param {object} deps
   * @param {Function} deps.io   socket.io-client's `io`
   * @param {{onConnect, onDisconnect, onConnectError, onEvent}} deps.handlers
   */
  constructor({ io, url, auth, handlers, timers = realTimers, options }) {
    Object.assign(this, { handlers, timers });
    this.inflight = new Set();
    this.closing = false;
    this.lastReceivedAt = null;
    this.attemptStartedAt = null; // of the connection attempt in flight
    const { connectTimeout, transports, path = "/socket.io" } = options;
    const socket = io(url, {
      path, autoConnect: false, reconnection: false, forceNew: true, transports, tryAllTransports: true,
      timeout: connectTimeout, auth: (callback) => callback(auth()),
    });
    this.socket = socket;
    socket.on("connect", () => { this.attemptStartedAt = null; this.touch(); handlers.onConnect(); });
    socket.on("disconnect", (reason) => this.#onDisconnect(reason));
    socket.on("connect_error", (error) => { this.attemptStartedAt = null; handlers.onConnectError(error); });
    for (const name of SERVER_EVENTS) {
      socket.on(name, (payload) => { this.touch(); handlers.onEvent(name, payload); });
    }
    // Pings and packets prove the connection alive (the Manager re-emits the engine's pings).
    socket.io?.on?.("ping", () => this.touch());
    socket.io?.on?.("packet", () => this.touch());
  }

  get connected() { return Boolean(this.socket.connected); }
  get sid() { return this.socket.id ?? null; }
  get transport() { return this.socket.io?.engine?.transport?.name ?? null; }

  /** How long the attempt in flight has been going, or null when there is none. */
  attemptAge(now = this.timers.now()) {
    return this.attemptStartedAt === null ? null : now - this.attemptStartedAt;
  }

  /** Something arrived: the connection is alive. */
  touch() {
    this.lastReceivedAt = this.timers.now();
  }

  /** A request with ack and timeout; with `up` false (or the socket down) it fails at once. */
  push(event, payload, { timeout, up }) {
    const push = new Push((name, body, ack) => this.socket.emit(name, body, ack), event, payload,
      { timeout, timers: this.timers });
    if (!up || !this.connected) {
      push.settle("error", { code: "unavailable", message: "not connected", local: true });
      return push;
    }
    this.inflight.add(push);
    for (const status of ["ok", "error", "timeout"]) push.receive(status, () => this.inflight.delete(push));
    push.receive("ok", () => this.touch());
    return push.send();
  }

  /** Build a fresh connection at once: connect() alone is a no-op on a socket that believes it
   *  is connected or is between attempts. Its own disconnect is reported as `expected`. */
  restart() {
    this.closing = true;
    this.socket.disconnect();
    this.closing = false;
    this.attemptStartedAt = this.timers.now();
    this.socket.connect();
  }

  close() {
    this.socket.disconnect();
  }

  /** Open only the transport (Engine.IO), without joining (no Socket.IO CONNECT, so the server
   *  sees no takeover yet): a wake-up race's spare proves the network path alive this way, and
   *  `connect()` then joins over the transport already open. `done(error)` once it opened or failed. */
  preopen(done) {
    this.attemptStartedAt = this.timers.now();
    this.socket.io.open((error) => done(error ?? null));
  }

  /** Join: a fresh socket's first attempt (over its transport, open or opening). */
  connect() {
    this.attemptStartedAt ??= this.timers.now();
    this.socket.connect();
  }

  /** Fail every push still waiting for an answer: it will never come on this socket. */
  failInflight() {
    for (const push of [...this.inflight]) push.settle("timeout", null);
    this.inflight.clear();
  }

  #onDisconnect(reason) {
    this.handlers.onDisconnect(reason, { expected: this.closing });
  }
}
