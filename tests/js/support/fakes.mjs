// Fakes with hooks for the client library's injected dependencies: a clock, a browser environment,
// a socket.io-client socket, and a key-value storage.

/** A manual clock: timers fire only when the test advances time. */
export class FakeClock {
  constructor(start = 1_000_000) {
    this.time = start;
    this.timers = new Map();
    this.nextId = 1;
    this.now = () => this.time;
    this.setTimeout = (fn, ms = 0) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => this.timers.delete(id);
  }

  /** Move time forward by `ms`, firing due timers in order (timers set meanwhile included). */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next[1].at)) next = [id, timer];
      }
      if (next === null) break;
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].fn();
    }
    this.time = end;
  }

  /** Jump forward without firing anything, as a frozen page experiences it; fire on the next advance. */
  freeze(ms) {
    this.time += ms;
  }

  get pending() {
    return this.timers.size;
  }
}

/** The browser environment: visibility, network hint, and the events the connection listens to. */
export class FakeEnv {
  constructor() {
    this.isVisible = true;
    this.isOnline = true;
    this.handlers = new Map();
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(handler);
    return () => this.handlers.get(type).delete(handler);
  }

  visible() {
    return this.isVisible;
  }

  online() {
    return this.isOnline;
  }

  fire(type) {
    for (const handler of [...(this.handlers.get(type) ?? [])]) handler();
  }

  hide() {
    this.isVisible = false;
    this.fire("visibilitychange");
  }

  show() {
    this.isVisible = true;
    this.fire("visibilitychange");
  }
}

/**
 * A socket.io-client Socket as far as the Connection uses it. Like the real one, `connect()` does
 * nothing while it believes it is connected, and `disconnect()` fires "disconnect" at once.
 */
export class FakeSocket {
  constructor(url, options) {
    this.url = url;
    this.options = options;
    this.connected = false;
    this.id = undefined;
    this.handlers = new Map();
    this.emitted = [];
    this.attempts = 0;
    this.opening = false;
    this.managerHandlers = new Map();
    this.io = {
      // Only public parts: socket.io-client's private fields (renamed by its minified build) are
      // left out, so a client that reads them fails here instead of silently using a fallback.
      engine: { transport: { name: "websocket" } },
      on: (type, fn) => this.managerHandlers.set(type, fn),
      // Manager.open(callback): the transport alone, before any Socket.IO CONNECT.
      open: (callback) => { this.engineOpens.push(callback); },
    };
    this.engineOpens = [];
    this.disconnects = 0;
    this.sids = 0;
  }

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }

  fire(event, ...args) {
    for (const handler of this.handlers.get(event) ?? []) handler(...args);
  }

  connect() {
    if (this.connected) return this;
    this.attempts += 1;
    this.opening = true;
    return this;
  }

  disconnect() {
    this.disconnects += 1;
    this.opening = false;
    if (this.connected) {
      this.connected = false;
      this.id = undefined;
      this.fire("disconnect", "io client disconnect");
    }
    return this;
  }

  emit(event, payload, ack) {
    this.emitted.push({ event, payload, ack });
    return this;
  }

  // -- test hooks -------------------------------------------------------------------------------

  /** The server accepts the pending attempt. */
  accept() {
    if (!this.opening) throw new Error("no connection attempt in flight");
    // socket.io-client reads `auth` for the CONNECT packet of every attempt; the server saw it.
    if (typeof this.options?.auth === "function") this.options.auth((auth) => { this.auth = auth; });
    this.opening = false;
    this.connected = true;
    this.id = `sid-${++this.sids}`;
    this.fire("connect");
  }

  /** The transport opened by `io.open(callback)` is up (or failed, with `error`). */
  openEngine(error = null) {
    const callback = this.engineOpens.shift();
    if (!callback) throw new Error("no transport opening");
    callback(error ?? undefined);
  }

  refuse(message) {
    this.opening = false;
    this.fire("connect_error", Object.assign(new Error(message), { data: undefined }));
  }

  /** The transport closed under us (server gone, network changed). */
  close(reason = "transport close") {
    this.opening = false;
    this.connected = false;
    this.id = undefined;
    this.fire("disconnect", reason);
  }

  /** Emitted requests of one event name. */
  requests(event) {
    return this.emitted.filter((e) => e.event === event);
  }

  /** Answer the last unanswered request of `event` with `reply`. */
  answer(event, reply) {
    const request = this.requests(event).findLast((e) => !e.answered);
    if (!request) throw new Error(`no ${event} request to answer`);
    request.answered = true;
    request.ack(reply);
    return request;
  }
}

/** `io()` that records the sockets it builds. */
export function fakeIo() {
  const sockets = [];
  const io = (url, options) => {
    const socket = new FakeSocket(url, options);
    sockets.push(socket);
    return socket;
  };
  io.sockets = sockets;
  return io;
}

/** An in-memory Web Storage (getItem/setItem/removeItem/key/length). */
export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }

  get length() {
    return this.map.size;
  }

  key(index) {
    return [...this.map.keys()][index] ?? null;
  }

  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }

  setItem(key, value) {
    this.map.set(key, String(value));
  }

  removeItem(key) {
    this.map.delete(key);
  }

  clear() {
    this.map.clear();
  }
}

/** A Connection as the followers and the outbox see it: `connected` and `push()`. */
export class FakeConnection {
  constructor(clock, PushClass) {
    this.clock = clock;
    this.Push = PushClass;
    this.connected = true;
    this.pushes = [];
  }

  push(event, payload, { timeout = 10000 } = {}) {
    const record = { event, payload, ack: null };
    const push = new this.Push((name, body, ack) => { record.ack = ack; }, event, payload, { timeout, timers: this.clock });
    record.push = push;
    if (!this.connected) {
      push.settle("error", { code: "unavailable", message: "not connected", local: true });
      return push;
    }
    this.pushes.push(record);
    return push.send();
  }

  requests(event) {
    return this.pushes.filter((p) => p.event === event);
  }

  /** Answer the oldest unanswered request of `event`. */
  answer(event, reply) {
    const record = this.requests(event).find((p) => !p.push.outcome);
    if (!record) throw new Error(`no pending ${event}`);
    record.ack(reply);
    return record;
  }
}

/**
 * BroadcastChannels of one name in one browser: `channel()` opens another tab's end. As the
 * real one, a message posted reaches every other end of the name, never the poster's own, and
 * later (a task, here `deliver()` or the next `post` hook of the test).
 */
export class FakeBroadcastHub {
  constructor() {
    this.ends = [];
    this.queue = [];
  }

  channel() {
    const hub = this;
    const end = {
      onmessage: null,
      closed: false,
      postMessage(data) { if (!end.closed) hub.queue.push({ from: end, data: structuredClone(data) }); },
      close() { end.closed = true; },
    };
    this.ends.push(end);
    return end;
  }

  /** Deliver what was posted, in order; returns how many messages reached an end. */
  deliver() {
    let delivered = 0;
    while (this.queue.length > 0) {
      const { from, data } = this.queue.shift();
      for (const end of this.ends) {
        if (end === from || end.closed || !end.onmessage) continue;
        end.onmessage({ data });
        delivered += 1;
      }
    }
    return delivered;
  }
}
