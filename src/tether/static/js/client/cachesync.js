// Ties the chat cache (cache.js) to a TetherClient from outside: the session list and every
// followed session's stored view are written to the cache as the client changes them, and read
// back at start, so a page opened without network (or before its socket connects) shows the
// chats and messages this browser last had. What the cache gives back goes through the client's
// own paths (SessionList's freshness rule, a follower resuming from the view's lastSeq), so
// catching up never doubles or keeps a stale message.

import { fresherView, ownerOf } from "./cacherules.js";

/** The follower's view store with the cache behind it: reads the fresher of the tab's view
 *  (a reload) and the cache's (a cold start); writes both. */
export class CachedViewStore {
  constructor(tabStore, cache) {
    Object.assign(this, { tabStore, cache });
    this.gone = new Set(); // sessions the server does not have: never stored again
  }

  get(sessionId) { return fresherView(this.tabStore.get(sessionId), this.cache.view(sessionId)); }

  set(sessionId, value) {
    if (this.gone.has(sessionId)) return false;
    this.cache.saveView(sessionId, value);
    return this.tabStore.set(sessionId, value);
  }

  delete(sessionId) {
    this.tabStore.delete(sessionId);
    this.cache.dropView(sessionId);
  }

  /** The server says there is no such session (for this user): forget it for good. */
  forgetGone(sessionId) {
    this.gone.add(sessionId);
    this.delete(sessionId);
  }

  /** Forget every view of this tab. */
  clear() {
    for (const key of this.tabStore.keys()) this.tabStore.delete(key);
  }
}

export class CacheSync {
  /**
   * @param {import("./client.js").TetherClient} client  (not started yet)
   * @param {import("./cache.js").ChatCache} cache
   */
  constructor(client, cache, { loadTimeoutMs = 1500 } = {}) {
    Object.assign(this, { client, cache, loadTimeoutMs });
    this.views = new CachedViewStore(client.followers.viewStore, cache);
    this.loaded = false;
  }

  /** Read the cache (waiting at most loadTimeoutMs: a stuck IndexedDB never holds the app
   *  back), give the client what it holds, and keep the cache up to date from then on. */
  async restore() {
    const { client, cache } = this;
    let timer;
    const late = new Promise((resolve) => { timer = client.timers.setTimeout(() => resolve(false), this.loadTimeoutMs); });
    this.loaded = await Promise.race([cache.load(ownerOf(client.token)).then(() => true), late]);
    client.timers.clearTimeout(timer);
    if (!this.loaded) client.log("warn", "[Cache] not read in time: starting without it");
    client.followers.viewStore = this.views;
    for (const follower of client.followers.values()) follower.store = this.views; // restored from the tab
    if (this.loaded && cache.sessions.length) client.sessions.applyPage(cache.sessions);
    this.#saveSessions();
    client.sessions.on("change", () => this.#saveSessions());
    client.on("change", ({ what, sessionId }) => {
      if (what === "gone") this.views.forgetGone(sessionId);
      // The token was refused (or local mode ended): keep nothing of that user's.
      else if (what === "unauthorized") this.forgetUser();
    });
    return this.loaded;
  }

  /** Another user signs in (or the last one was refused): clear the cache, the session list
   *  and this tab's stored views; what is cached from now on is the current token's. */
  forgetUser() {
    // The followers open now hold the previous user's messages: they never store them again
    // (not even when closed, which would file them under the new owner). New ones get a store.
    for (const follower of this.client.followers.values()) follower.store = null;
    this.views.clear();
    this.views = new CachedViewStore(this.views.tabStore, this.cache);
    this.client.followers.viewStore = this.views;
    this.client.sessions.clear();
    return this.cache.forget(ownerOf(this.client.token));
  }

  /** Write everything now: the followers' views (normally written a moment after each change)
   *  and what the cache holds back. Resolves once written. */
  flush() {
    for (const follower of this.client.followers.values()) follower.persistNow();
    return this.cache.flush();
  }

  #saveSessions() {
    const { sessions } = this.client;
    this.cache.saveSessions(sessions.ordered().slice(0, 100).concat(sessions.ordered({ archived: true }).slice(0, 20)));
  }
}
