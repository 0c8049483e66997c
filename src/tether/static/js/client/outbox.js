// Messages the user sent that the server has not acknowledged yet.
//
// Every send gets a client_msg_id and is written to storage *before* it is emitted, and stays there
// until the server acknowledges it. It is re-sent after a reconnect or a reload; the server stores
// at most one message per (session_id, client_msg_id), so re-sending after a lost ack is safe and
// a message typed in a tunnel, or just before a reload, is delivered exactly once.
//
// Entries live in localStorage, one key per entry (no read-modify-write of a shared list), so an
// entry left behind by a closed tab is picked up and sent by the next tab.
//
// Each entry names the account that queued it (account.js): the outbox shows and sends only the
// entries of the account signed in, and keeps the others until theirs signs in again.

import { belongsTo, DECISIONS, isUnclaimed, sendDecision, tagsOf, unclaimedExpired } from "./account.js";
import { Emitter } from "./emitter.js";
import { IllegalTransition } from "./machine.js";
import { EVENTS } from "./protocol.js";
import { retryTimer } from "./retry.js";
import { realTimers } from "./timers.js";

export const OUTBOX_STATES = Object.freeze({ PENDING: "pending", SENT: "sent", FAILED: "failed" });

/** An entry's life: sent once acknowledged (then gone), failed for good until retried by hand. */
const ENTRY_TRANSITIONS = Object.freeze({
  [OUTBOX_STATES.PENDING]: [OUTBOX_STATES.SENT, OUTBOX_STATES.FAILED],
  [OUTBOX_STATES.FAILED]: [OUTBOX_STATES.PENDING],
  [OUTBOX_STATES.SENT]: [],
});

/** Error codes after which the same request will never succeed: the entry fails (retry by hand). */
export const FATAL_CODES = Object.freeze(["invalid", "too_large", "not_found", "conflict", "internal"]);

/** "retry" (later, automatically) or "fail" for an error code ("timeout" for no answer). */
export function classifyError(code) {
  return FATAL_CODES.includes(code) ? "fail" : "retry";
}

const defaultUuid = () => globalThis.crypto.randomUUID();
const LOCAL = Object.freeze({ owner: "local", user: null });

export class Outbox extends Emitter {
  /**
   * @param {object} deps
   * @param {{connected: boolean, push: Function}} deps.connection
   * @param {import("./storage.js").KeyValueStore} deps.store
   * @param {() => {owner: string, user: string | null}} deps.account  the account this tab acts
   *   for (account.js): its entries are the ones shown, and new ones are tagged with it
   * @param {() => ({owner: string, user: string | null} | null)} deps.sendingAs  the account the
   *   live connection signed in as (null until known): only its entries are sent
   */
  constructor({ connection, store, account = () => LOCAL, sendingAs = account, timers = realTimers,
                uuid = defaultUuid, random = Math.random, log = () => {}, options = {} }) {
    super();
    Object.assign(this, { connection, store, account, sendingAs, timers, uuid, log });
    this.options = { sendTimeout: 10000, ...options };
    this.retryTimer = retryTimer(() => this.flush(), { timers, random });
    this.items = new Map();
    this.inflight = null;
    this.counter = 0;
    this.inflightSender = null; // the account the entry in flight was sent as
    this.refused = new Set(); // `${owner} ${client_msg_id}`: unclaimed entries refused for owner
    this.load();
  }

  /** The account's entries (the tab's), in the order they were written. */
  get entries() {
    const account = this.account();
    return this.#ordered().filter((entry) => belongsTo(entry, account));
  }

  /** Every stored entry, whoever's, in the order they were written. */
  #ordered() {
    return [...this.items.values()].sort((a, b) => a.created_at - b.created_at || a.n - b.n);
  }

  entriesFor(sessionId) {
    return this.entries.filter((entry) => entry.session_id === sessionId);
  }

  /** Read the stored entries (at start, and to adopt ones other tabs left behind). */
  load() {
    const now = this.timers.now();
    for (const id of this.store.keys()) {
      const entry = this.store.get(id);
      if (entry && !this.items.has(id) && typeof entry.content === "string") {
        if (unclaimedExpired(entry, now)) {
          this.log("warn", `[Outbox] ${id}: from before entries named their account, unclaimed too long: dropped`);
          this.store.delete(id);
          continue;
        }
        this.items.set(id, { ...entry, n: this.counter++ });
      }
    }
  }

  /**
   * The server said who the connection is (its hello): the sender's entries queued before its
   * user id was known get it (so they stay its account's after a new token), then flush.
   */
  signedIn() {
    const sender = this.sendingAs();
    if (sender?.user) {
      for (const entry of this.items.values()) {
        if (!isUnclaimed(entry) && entry.owner === sender.owner && !entry.user_id) this.#update(entry, { user_id: sender.user });
      }
    }
    this.flush();
  }

  /** Queue a message: stored first, then sent when connected. Returns the entry. */
  add(sessionId, content) {
    const entry = {
      client_msg_id: this.uuid(),
      session_id: sessionId,
      content,
      ...tagsOf(this.account()),
      created_at: this.timers.now(),
      state: OUTBOX_STATES.PENDING,
      attempts: 0,
      error: null,
      n: this.counter++,
    };
    this.store.set(entry.client_msg_id, entry);
    this.items.set(entry.client_msg_id, entry);
    this.log("info", `[Outbox] queued ${entry.client_msg_id} for ${sessionId}`);
    this.emit("change", entry);
    this.flush();
    return entry;
  }

  /** Send a failed entry again. */
  retry(clientMsgId) {
    const entry = this.items.get(clientMsgId);
    if (!entry || entry.state !== OUTBOX_STATES.FAILED || !belongsTo(entry, this.account())) return;
    this.#update(entry, { state: OUTBOX_STATES.PENDING, error: null });
    this.retryTimer.reset();
    this.flush();
  }

  /** Drop an entry for good (the user gave up on a failed message). */
  discard(clientMsgId) {
    if (this.inflight?.client_msg_id === clientMsgId) return;
    if (!belongsTo(this.items.get(clientMsgId), this.account())) return; // not this account's to drop
    this.items.delete(clientMsgId);
    this.store.delete(clientMsgId);
    this.emit("change", { client_msg_id: clientMsgId, state: "discarded" });
  }

  /**
   * Send pending entries one at a time, oldest first (one at a time keeps a session's messages in
   * the order they were typed). Called on add, on every connect and hello, and by the retry timer.
   * Only the connection's account's entries go (account.js sendDecision); an entry decided by a
   * user id not known yet holds the later ones back until the hello, so the order stays.
   */
  flush() {
    if (this.inflight || !this.connection.connected) return;
    const sender = this.sendingAs();
    let entry = null;
    for (const candidate of this.#ordered()) {
      if (candidate.state !== OUTBOX_STATES.PENDING) continue;
      const decision = sendDecision(candidate, sender, (e) => this.refused.has(`${sender.owner} ${e.client_msg_id}`));
      if (decision === DECISIONS.WAIT) return;
      if (decision === DECISIONS.SKIP) continue;
      entry = candidate;
      break;
    }
    if (!entry) return;
    this.retryTimer.cancel();
    this.inflight = entry;
    this.inflightSender = sender;
    this.#update(entry, { attempts: entry.attempts + 1 });
    const payload = { session_id: entry.session_id, client_msg_id: entry.client_msg_id, content: entry.content };
    this.connection
      .push(EVENTS.SEND, payload, { timeout: this.options.sendTimeout })
      .receive("ok", (ack) => this.#acked(entry, ack))
      .receive("error", (error) => this.#failed(entry, error.code, error.message))
      .receive("timeout", () => this.#failed(entry, "timeout", "no answer"));
  }

  #acked(entry, ack) {
    this.inflight = null;
    this.retryTimer.reset();
    this.items.delete(entry.client_msg_id);
    this.store.delete(entry.client_msg_id);
    this.#move(entry, OUTBOX_STATES.SENT);
    this.log("info", `[Outbox] sent ${entry.client_msg_id}${ack.duplicate ? " (duplicate: already stored)" : ""}`);
    this.emit("sent", { entry, message: ack.message, duplicate: Boolean(ack.duplicate) });
    this.emit("change", entry);
    this.flush();
  }

  #failed(entry, code, message) {
    this.inflight = null;
    const sender = this.inflightSender;
    if (!this.items.has(entry.client_msg_id)) return; // discarded meanwhile
    if (isUnclaimed(entry) && classifyError(code) === "fail") {
      // Not this account's chat (not_found), or not storable: shown to nobody, so nobody could
      // retry it; it stays, unsent, for the next account.
      this.refused.add(`${sender?.owner} ${entry.client_msg_id}`);
      this.log("info", `[Outbox] unclaimed ${entry.client_msg_id} refused for this account: ${code}`);
      this.flush();
      return;
    }
    if (classifyError(code) === "fail") {
      this.log("warn", `[Outbox] ${entry.client_msg_id} failed: ${code} ${message}`);
      this.#update(entry, { state: OUTBOX_STATES.FAILED, error: { code, message } });
      this.flush();
      return;
    }
    this.#update(entry, { error: { code, message } });
    if (!this.connection.connected) return; // the next connect flushes
    const delay = this.retryTimer.schedule();
    this.log("info", `[Outbox] ${entry.client_msg_id}: ${code}; retry in ${delay}ms`);
  }

  /** Change an entry's state as ENTRY_TRANSITIONS allows (entries are plain stored objects, so
   *  the table is checked here rather than by a StateMachine per entry). */
  #move(entry, state) {
    if (state === entry.state) return;
    if (!ENTRY_TRANSITIONS[entry.state]?.includes(state)) {
      throw new IllegalTransition(`illegal outbox transition ${entry.state} -> ${state}`);
    }
    entry.state = state;
  }

  #update(entry, { state, ...changes }) {
    if (state !== undefined) this.#move(entry, state);
    Object.assign(entry, changes);
    this.store.set(entry.client_msg_id, entry);
    this.emit("change", entry);
  }
}
