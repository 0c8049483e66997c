// The chats this browser last had, kept (bounded) so that a reload without network shows them
// and a cold start paints them before the socket connects. Records are `{key, owner, savedAt}`
// plus their data: "sessions" (the session list) and "view:<id>" (a session's stored view,
// cacherules.js). Every record names its owner (ownerOf(token)): a load keeps only the current
// owner's, so one user never sees another's chats, and forget() clears all of them at once.
// Writes are coalesced and best effort: a failing IndexedDB never breaks the chat.

import { boundView, CACHE_LIMITS, isExpired, shouldReplace } from "./cacherules.js";
import { realTimers } from "./timers.js";

const SESSIONS = "sessions";
const viewKey = (sessionId) => `view:${sessionId}`;

export class ChatCache {
  /**
   * @param {object} deps
   * @param {{getAll: Function, write: Function, clear: Function} | null} deps.records  storage
   *   (cachedb.js; null keeps nothing)
   */
  constructor({ records, timers = realTimers, log = () => {}, limits = {} }) {
    Object.assign(this, { records, timers, log });
    this.limits = { ...CACHE_LIMITS, ...limits };
    this.owner = null;
    this.sessions = [];
    this.views = new Map(); // sessionId -> {data, savedAt}
    this.puts = new Map(); // key -> record waiting to be written
    this.deletes = new Set();
    this.flushTimer = null;
    this.writing = Promise.resolve();
  }

  /** Read the owner's records (dropping other owners' and expired ones). Resolves to this. */
  async load(owner) {
    this.owner = owner;
    let records = [];
    try {
      records = (await this.records?.getAll()) ?? [];
    } catch (error) {
      this.log("warn", `[Cache] not read: ${error?.message ?? error}`);
    }
    const now = this.timers.now();
    for (const record of records) {
      if (record.owner !== owner || isExpired(record, now, this.limits.maxAgeMs)) this.#delete(record.key);
      else if (record.key === SESSIONS && Array.isArray(record.sessions)) this.sessions = record.sessions;
      else if (record.key.startsWith("view:") && record.view) this.views.set(record.sessionId, { data: record.view, savedAt: record.savedAt });
    }
    this.#evict();
    this.log("info", `[Cache] loaded ${this.sessions.length} sessions, ${this.views.size} views`);
    return this;
  }

  /** The stored view of a session, or null. */
  view(sessionId) { return this.views.get(sessionId)?.data ?? null; }

  saveView(sessionId, stored) {
    if (this.owner === null || !stored) return;
    const data = boundView(stored, this.limits);
    if (!shouldReplace(this.view(sessionId), data)) return;
    const savedAt = this.timers.now();
    this.views.delete(sessionId); // re-inserted last: the Map's order is least recently saved first
    this.views.set(sessionId, { data, savedAt });
    this.#put({ key: viewKey(sessionId), owner: this.owner, savedAt, sessionId, view: data });
    this.#evict();
  }

  dropView(sessionId) {
    if (this.views.delete(sessionId)) this.#delete(viewKey(sessionId));
  }

  saveSessions(sessions) {
    if (this.owner === null) return;
    this.sessions = sessions.slice(0, this.limits.sessions);
    this.#put({ key: SESSIONS, owner: this.owner, savedAt: this.timers.now(), sessions: this.sessions });
  }

  /** Clear everything (another user signs in, or the token was refused); `owner` from now on. */
  async forget(owner) {
    this.owner = owner;
    this.sessions = [];
    this.views.clear();
    this.puts.clear();
    this.deletes.clear();
    this.#clearTimer();
    this.writing = this.writing.then(() => this.records?.clear()).catch((error) => {
      this.log("warn", `[Cache] not cleared: ${error?.message ?? error}`);
    });
    return this.writing;
  }

  /** Write what waits now (also before the page goes away). Resolves once written. */
  flush() {
    this.#clearTimer();
    const puts = [...this.puts.values()];
    const deletes = [...this.deletes];
    this.puts.clear();
    this.deletes.clear();
    if (puts.length || deletes.length) {
      this.writing = this.writing.then(() => this.records?.write(puts, deletes)).catch((error) => {
        this.log("warn", `[Cache] not written: ${error?.message ?? error}`);
      });
    }
    return this.writing;
  }

  /** Keep at most `limits.views` views: the least recently saved go. */
  #evict() {
    for (const sessionId of this.views.keys()) {
      if (this.views.size <= this.limits.views) break;
      this.dropView(sessionId);
    }
  }

  #put(record) {
    this.deletes.delete(record.key);
    this.puts.set(record.key, record);
    this.#schedule();
  }

  #delete(key) {
    this.puts.delete(key);
    this.deletes.add(key);
    this.#schedule();
  }

  #schedule() {
    if (this.flushTimer === null) this.flushTimer = this.timers.setTimeout(() => this.flush(), this.limits.flushDelay);
  }

  #clearTimer() {
    if (this.flushTimer !== null) this.timers.clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }
}
