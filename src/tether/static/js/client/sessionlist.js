// The user's sessions, newest activity first, kept up to date by `session` events.

import { Emitter } from "./emitter.js";

/** Whether `incoming` is at least as recent a state of a session as `current`. */
export function isFresher(incoming, current) {
  if (!current) return true;
  if (incoming.updated_at !== current.updated_at) return incoming.updated_at > current.updated_at;
  return (incoming.head_seq ?? 0) >= (current.head_seq ?? 0);
}

export class SessionList extends Emitter {
  constructor({ store = null } = {}) {
    super();
    this.store = store;
    this.sessions = new Map();
    for (const session of store?.get("list") ?? []) this.sessions.set(session.id, session);
  }

  /** Apply one session (from a `session` event or an ack). Returns true if it changed. */
  upsert(session) {
    const current = this.sessions.get(session.id);
    if (!session?.id || !isFresher(session, current)) return false;
    // Only list_sessions carries `preview`: a `session` event keeps the one we have.
    this.sessions.set(session.id, { preview: current?.preview, ...session });
    this.#changed();
    return true;
  }

  /** A `list_sessions` page; sessions beyond the page are kept. */
  applyPage(sessions) {
    for (const session of sessions) {
      if (isFresher(session, this.sessions.get(session.id))) this.sessions.set(session.id, { ...session });
    }
    this.#changed();
  }

  /** Forget every session (another user signed in). */
  clear() {
    this.sessions.clear();
    this.#changed();
  }

  get(sessionId) {
    return this.sessions.get(sessionId) ?? null;
  }

  /** Sessions newest activity first; archived ones only when asked. */
  ordered({ archived = false } = {}) {
    return [...this.sessions.values()]
      .filter((s) => Boolean(s.archived) === archived)
      .sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
  }

  #changed() {
    this.store?.set("list", this.ordered().slice(0, 100).concat(this.ordered({ archived: true }).slice(0, 20)));
    this.emit("change");
  }
}
