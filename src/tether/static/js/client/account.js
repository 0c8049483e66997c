// Whose an outbox entry is. The outbox is shared by every tab of the browser (localStorage), and
// one browser may be signed in as several accounts one after the other: an entry queued by one
// account must never be shown to, or sent as, another. Pure functions, plus the small record of
// which user each token signed in as.
//
// An account is `{owner, user}`: `owner` the stable name of its token (cacherules.js ownerOf,
// "local" without one), always known, even offline; `user` the user id the server's `hello`
// gave for that token, or null before the first hello. A token is one user's for good, so an
// entry is its account's when either matches: the owner (the same token) or the user (the same
// user signed in again with a new token). Entries are tagged with both (`owner`, `user_id`).
//
// Entries stored before tags existed ("unclaimed") say nothing of who typed them. They are shown
// to nobody; each account's connection offers them to the server once, and the server stores a
// message only into a session of its sender (service.send answers not_found otherwise), and a
// session has one owner: so an unclaimed entry can only ever be stored for the owner of the chat
// it was typed into, and one the server refuses stays for the next account.

import { ownerOf } from "./cacherules.js";

/** What to do with an entry on a connection signed in as `sender`. */
export const DECISIONS = Object.freeze({
  SEND: "send", // this account's: send it
  OFFER: "offer", // unclaimed: offer it (the server's ownership check decides)
  SKIP: "skip", // another account's (or refused here already): keep it for its account
  WAIT: "wait", // decided by the user id, not known until the server's hello
});

/** How long an unclaimed entry is kept for its account to come back (they are from before the
 *  tags: an account that has not signed in again in that long will not). */
export const UNCLAIMED_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** The tab's account: its token's owner and the user id last seen for it (or null). */
export function accountOf(token, knownUsers) {
  const owner = ownerOf(token);
  return { owner, user: knownUsers?.user(owner) ?? null };
}

/** The tags an entry queued by `account` carries. */
export function tagsOf(account) {
  return { owner: account.owner, user_id: account.user ?? null };
}

/** Whether the entry carries no tags (stored before they existed). */
export function isUnclaimed(entry) {
  return typeof entry?.owner !== "string";
}

/** Whether the entry is `account`'s: the same token, or the same user. Unclaimed: never. */
export function belongsTo(entry, account) {
  if (!account || isUnclaimed(entry)) return false;
  if (entry.owner === account.owner) return true;
  return Boolean(entry.user_id) && entry.user_id === account.user;
}

/**
 * What the outbox does with `entry` on a connection signed in as `sender` (null: not signed in
 * yet). `refused(entry)`: the server already refused this unclaimed entry for this sender.
 */
export function sendDecision(entry, sender, refused = () => false) {
  if (!sender) return DECISIONS.WAIT;
  if (isUnclaimed(entry)) return refused(entry) ? DECISIONS.SKIP : DECISIONS.OFFER;
  if (belongsTo(entry, sender)) return DECISIONS.SEND;
  // Tagged with a user id but another token: until the server says who this token is, it may
  // be the same user (a new token) or not.
  if (entry.user_id && sender.user === null) return DECISIONS.WAIT;
  return DECISIONS.SKIP;
}

/** Whether an unclaimed entry has waited too long for its account (see UNCLAIMED_MAX_AGE_MS). */
export function unclaimedExpired(entry, now, maxAgeMs = UNCLAIMED_MAX_AGE_MS) {
  return isUnclaimed(entry) && !(now - (entry.created_at ?? 0) <= maxAgeMs);
}

/** Which user each token (by owner) signed in as, from the server's hellos, in localStorage:
 *  so an entry queued offline, before this page's first hello, is tagged with the user too. */
export class KnownUsers {
  /** @param {import("./storage.js").KeyValueStore} store  the shared store; `limit` owners kept */
  constructor(store, { limit = 20 } = {}) {
    Object.assign(this, { store, limit });
  }

  user(owner) {
    const users = this.#read();
    return typeof users[owner] === "string" ? users[owner] : null;
  }

  /** The server said `owner`'s token is user `userId` (the most recent last, the oldest go). */
  remember(owner, userId) {
    if (typeof userId !== "string" || !userId) return;
    const users = this.#read();
    if (users[owner] === userId) return;
    delete users[owner];
    users[owner] = userId;
    const owners = Object.keys(users);
    for (const old of owners.slice(0, Math.max(0, owners.length - this.limit))) delete users[old];
    this.store.set("users", users);
  }

  #read() {
    const users = this.store.get("users");
    return users && typeof users === "object" && !Array.isArray(users) ? users : {};
  }
}
