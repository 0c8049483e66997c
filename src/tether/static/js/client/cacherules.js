// The rules of the chat cache (cache.js), as pure functions: whose cache it is, how much of a
// session it keeps, and which of two stored views of a session is the fresher.
//
// A stored view is what SessionFollower persists (merge.js serializeView plus `epoch`):
// {v, lastSeq, synced, hasOlder, messages (in position order), epoch}. Its messages are exactly
// the session's state at lastSeq in that epoch's log, so a view read back from the cache is
// resumed from lastSeq by the merge rule like a reload's: what is new is merged once, and a
// server on another log (a restored database, a reset session) answers `reset` and the view is
// rebuilt, replacing the cached one.

export const CACHE_LIMITS = Object.freeze({
  views: 20, // sessions whose messages are kept: the most recently saved ones
  messages: 50, // newest messages kept per session
  chars: 200_000, // at most this much message text per session (the newest message always)
  sessions: 120, // session list entries: 100 active and 20 archived, as SessionList keeps them
  maxAgeMs: 30 * 24 * 3600 * 1000, // a record not saved again for 30 days is dropped
  flushDelay: 1000, // writes are coalesced for this long
});

/** A short, stable name of a token (never the token itself), or "local" without one. */
export function ownerOf(token) {
  if (!token) return "local";
  // cyrb53: a 53-bit string hash. Not a secret: it only tells one user's records from another's.
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `t:${(4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36)}`;
}

/** The stored view cut to the cache's bounds: the newest `messages` messages within `chars`
 *  characters of content (the newest one always); `hasOlder` when anything was cut. */
export function boundView(stored, limits = CACHE_LIMITS) {
  const messages = Array.isArray(stored?.messages) ? stored.messages : [];
  let kept = 0;
  let chars = 0;
  for (let i = messages.length - 1; i >= 0 && kept < limits.messages; i--) {
    chars += String(messages[i].content ?? "").length;
    if (kept > 0 && chars > limits.chars) break;
    kept += 1;
  }
  const cut = kept < messages.length;
  return { ...stored, messages: messages.slice(messages.length - kept), hasOlder: Boolean(stored?.hasOlder) || cut };
}

/** Whether both views count seqs in the same log (the same epoch, both synced). */
function sameLog(a, b) {
  return a.synced && b.synced && typeof a.epoch === "string" && a.epoch === b.epoch;
}

/** Whether `incoming` may replace `current` in the cache: not when it is an older state of
 *  the same log (a tab that is behind must not take the cache back). */
export function shouldReplace(current, incoming) {
  if (!current) return true;
  return !(sameLog(current, incoming) && incoming.lastSeq < current.lastSeq);
}

/** The view a follower starts from: the tab's own (a reload), unless the cache's is further
 *  along the same log, or the tab has none that is synced. */
export function fresherView(tabView, cachedView) {
  if (!tabView?.synced) return cachedView?.synced ? cachedView : tabView ?? cachedView ?? null;
  if (cachedView && sameLog(tabView, cachedView) && cachedView.lastSeq > tabView.lastSeq) return cachedView;
  return tabView;
}

/** Whether a record was last saved longer ago than `maxAgeMs`. */
export function isExpired(record, now, maxAgeMs = CACHE_LIMITS.maxAgeMs) {
  return !(typeof record?.savedAt === "number") || now - record.savedAt > maxAgeMs;
}
