// The sessions this tab follows: one SessionFollower each, the list kept in the tab's storage so a
// reload follows them again, and the server's session events routed to the follower they concern.

import { Emitter } from "./emitter.js";
import { SessionFollower } from "./follower.js";
import { EVENTS } from "./protocol.js";
import { realTimers } from "./timers.js";

export class Followers extends Emitter {
  /**
   * @param {object} deps
   * @param {import("./connection.js").Connection} deps.connection
   * @param {import("./storage.js").KeyValueStore} deps.tab        the list of followed sessions
   * @param {import("./storage.js").KeyValueStore} deps.viewStore  each session's view
   */
  constructor({ connection, tab, viewStore, timers = realTimers, random = Math.random, log = () => {}, options = {} }) {
    super();
    Object.assign(this, { connection, tab, viewStore, timers, random, log, options });
    this.map = new Map();
  }

  get(sessionId) { return this.map.get(sessionId); }
  values() { return this.map.values(); }

  /** Follow again what this tab followed before a reload. */
  restore() {
    for (const sessionId of this.tab.get("followed") ?? []) this.follow(sessionId);
  }

  /** Follow a session: subscribe now (if connected) and after every reconnect. */
  follow(sessionId) {
    let follower = this.map.get(sessionId);
    if (follower) return follower;
    const { connection, viewStore: store, timers, random, log, options } = this;
    follower = new SessionFollower({ sessionId, connection, store, timers, random, log, options });
    follower.on("change", () => this.emit("change", { what: "messages", sessionId }));
    follower.on("synced", (sync) => this.emit("synced", sync));
    follower.on("gone", () => this.emit("change", { what: "gone", sessionId }));
    this.map.set(sessionId, follower);
    this.#save();
    follower.subscribe("follow");
    return follower;
  }

  /** Stop following; tells the server when connected. */
  unfollow(sessionId) {
    const follower = this.map.get(sessionId);
    if (!follower) return;
    follower.close();
    this.map.delete(sessionId);
    this.#save();
    if (this.connection.connected) this.connection.push(EVENTS.UNSUBSCRIBE, { session_id: sessionId });
  }

  subscribeAll(reason) {
    for (const follower of this.map.values()) follower.subscribe(reason);
  }

  disconnected() {
    for (const follower of this.map.values()) follower.disconnected();
  }

  closeAll() {
    for (const follower of this.map.values()) follower.close();
  }

  /** The server's copy of a message this tab sent (the outbox's ack), to its follower if any. */
  applyOwnMessage(message) {
    this.map.get(message.session_id)?.applyOwnMessage(message);
  }

  /** Load a followed session's older messages; false when it is not followed. */
  loadOlder(sessionId) {
    return this.map.get(sessionId)?.loadOlder() ?? Promise.resolve(false);
  }

  /** A server event of a session: to its follower, if this tab follows it. */
  route(name, payload) {
    const follower = this.map.get(payload?.session_id);
    if (!follower) return;
    if (name === EVENTS.MESSAGE) follower.onMessage(payload);
    else if (name === EVENTS.DELTA) follower.onDelta(payload);
    else if (name === EVENTS.RESYNC) follower.subscribe(`resync: ${payload.reason}`);
  }

  #save() {
    this.tab.set("followed", [...this.map.keys()]);
  }
}
