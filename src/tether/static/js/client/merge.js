// The merge rule of PROTOCOL.md section 5, as pure functions over a session's view.
//
// A view is what this tab knows of one session:
//   lastSeq  the highest seq such that every change up to it has been applied. It is the stream
//            position: after any disconnect we subscribe with after_seq = lastSeq and the server
//            sends exactly what we missed.
//   messages Map id -> Message, each in the state with the highest seq seen (an upsert, so a
//            change delivered twice is harmless).
//   held     live messages that arrived ahead of a gap (seq > lastSeq + 1), waiting for the gap
//            to fill or for a re-subscribe.
// Nothing here does I/O; the SessionFollower drives these functions.

import { partsAfterDelta } from "./parts.js";

export function createView(sessionId) {
  return {
    sessionId,
    synced: false, // true once a subscribe ack has set lastSeq
    lastSeq: 0,
    messages: new Map(),
    held: new Map(), // seq -> Message
    heldDeltas: new Map(), // message id -> [delta], deltas of held messages
    hasOlder: false,
  };
}

/** Whether `incoming` is a later state of the same message than `current`. */
export function isNewer(incoming, current) {
  if (!current) return true;
  if (incoming.seq !== current.seq) return incoming.seq > current.seq;
  // Same change, but deltas applied locally may have taken one copy further than the other.
  return incoming.status === "streaming" && current.status === "streaming" &&
    incoming.chunks > current.chunks;
}

/** Rule 5: upsert by id, keeping the higher seq. Returns true when the view changed. */
export function upsertMessage(view, message) {
  const current = view.messages.get(message.id);
  if (!isNewer(message, current)) return false;
  view.messages.set(message.id, { ...message });
  return true;
}

/**
 * Rule 6: apply a delta only when its chunk is the message's current `chunks`.
 * Returns "applied", "ignored" (old or for a finished message), "held" (its message waits behind
 * a gap) or "gap" (chunks were missed: subscribe again).
 */
export function applyDelta(view, delta) {
  const message = view.messages.get(delta.message_id);
  if (!message) {
    const heldMessage = [...view.held.values()].some((m) => m.id === delta.message_id);
    if (heldMessage) {
      if (!view.heldDeltas.has(delta.message_id)) view.heldDeltas.set(delta.message_id, []);
      view.heldDeltas.get(delta.message_id).push(delta);
      return "held";
    }
    return "gap";
  }
  if (message.status !== "streaming" || delta.chunk < message.chunks) return "ignored";
  if (delta.chunk > message.chunks) return "gap";
  const next = { ...message, content: message.content + (delta.text ?? ""), chunks: message.chunks + 1 };
  const parts = partsAfterDelta(message, delta);
  if (parts !== undefined) next.parts = parts;
  view.messages.set(message.id, next);
  return "applied";
}

/** Advance lastSeq over held messages that have become contiguous. Returns true if any applied. */
function drainHeld(view) {
  let changed = false;
  for (const seq of [...view.held.keys()]) {
    if (seq <= view.lastSeq) {
      changed = upsertMessage(view, view.held.get(seq)) || changed;
      view.held.delete(seq);
    }
  }
  while (view.held.has(view.lastSeq + 1)) {
    const message = view.held.get(view.lastSeq + 1);
    view.held.delete(view.lastSeq + 1);
    view.lastSeq += 1;
    changed = upsertMessage(view, message) || changed;
    const deltas = view.heldDeltas.get(message.id) ?? [];
    view.heldDeltas.delete(message.id);
    for (const delta of deltas) applyDelta(view, delta);
  }
  return changed;
}

/**
 * Rules 1 and 4: a live `message` event. Returns "applied", "stale" (nothing new) or "held"
 * (seq > lastSeq + 1: a gap; the caller re-subscribes if it is not filled soon).
 */
export function applyLiveMessage(view, message) {
  if (message.seq > view.lastSeq + 1) {
    view.held.set(message.seq, message);
    return "held";
  }
  const changed = upsertMessage(view, message);
  if (message.seq === view.lastSeq + 1) view.lastSeq = message.seq;
  return drainHeld(view) || changed ? "applied" : "stale";
}

/**
 * Rule 3: apply a subscribe acknowledgement, then the live events buffered while it was pending
 * (`buffered`: [{type: "message" | "delta", payload}] in arrival order). `reset` (and `recent`,
 * which answers a subscribe without after_seq) rebuild the view from the reply.
 * Returns {gap: true} when a buffered delta revealed missing chunks.
 */
export function applySubscribeAck(view, ack, buffered = []) {
  if (ack.mode !== "resume") {
    view.messages.clear();
    view.held.clear();
    view.heldDeltas.clear();
  }
  for (const message of ack.messages) upsertMessage(view, message);
  view.lastSeq = ack.head_seq;
  view.synced = true;
  let gap = false;
  for (const { type, payload } of buffered) {
    if (type === "message") {
      if (payload.message.seq > ack.head_seq) applyLiveMessage(view, payload.message);
    } else if (type === "delta" && applyDelta(view, payload) === "gap") {
      gap = true;
    }
  }
  drainHeld(view);
  if (ack.mode !== "resume") view.hasOlder = oldestPosition(view) > 1;
  return { gap };
}

/** Older messages from `history` (scroll-back): they never move lastSeq. */
export function applyHistory(view, messages, hasMore) {
  for (const message of messages) upsertMessage(view, message);
  view.hasOlder = Boolean(hasMore);
}

export function oldestPosition(view) {
  let oldest = Infinity;
  for (const message of view.messages.values()) oldest = Math.min(oldest, message.position);
  return oldest === Infinity ? 0 : oldest;
}

/** The messages in screen order (by position). */
export function orderedMessages(view) {
  return [...view.messages.values()].sort((a, b) => a.position - b.position);
}

/** A JSON-able snapshot for the tab's storage: lastSeq and the newest `keep` messages. */
export function serializeView(view, keep = 200) {
  const messages = orderedMessages(view);
  const kept = messages.slice(Math.max(0, messages.length - keep));
  return {
    v: 1,
    lastSeq: view.lastSeq,
    synced: view.synced,
    hasOlder: view.hasOlder || kept.length < messages.length,
    messages: kept,
  };
}

export function deserializeView(sessionId, data) {
  const view = createView(sessionId);
  if (!data || data.v !== 1 || !Array.isArray(data.messages)) return view;
  view.lastSeq = Number.isInteger(data.lastSeq) ? data.lastSeq : 0;
  view.synced = Boolean(data.synced);
  view.hasOlder = Boolean(data.hasOlder);
  for (const message of data.messages) upsertMessage(view, message);
  return view;
}
