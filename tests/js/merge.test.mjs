import assert from "node:assert/strict";
import { test } from "node:test";

import {
  applyDelta, applyHistory, applyLiveMessage, applySubscribeAck, createView, deserializeView,
  orderedMessages, serializeView, upsertMessage,
} from "../../src/tether/static/js/client/merge.js";
import { ack, delta, msg, streaming } from "./support/messages.mjs";

const synced = (lastSeq, messages = []) => {
  const view = createView("s1");
  applySubscribeAck(view, ack("recent", lastSeq, messages));
  return view;
};

test("upsert by id keeps the state with the higher seq", () => {
  const view = createView("s1");
  assert.ok(upsertMessage(view, streaming("m1", 3, "Hel", 1)));
  assert.ok(upsertMessage(view, msg("m1", 5, { content: "Hello", status: "complete" })));
  assert.ok(!upsertMessage(view, streaming("m1", 3, "Hel", 1)), "an older state changes nothing");
  assert.equal(view.messages.get("m1").content, "Hello");
  assert.ok(!upsertMessage(view, msg("m1", 5, { content: "Hello", status: "complete" })), "a duplicate is harmless");
});

test("same seq: the streaming copy with more chunks wins", () => {
  const view = createView("s1");
  upsertMessage(view, streaming("m1", 3, "a b c", 3));
  assert.ok(!upsertMessage(view, streaming("m1", 3, "a", 1)));
  assert.equal(view.messages.get("m1").chunks, 3);
});

test("contiguous live messages advance lastSeq; a gap is held until filled", () => {
  const view = synced(2, [msg("m1", 1), msg("m2", 2)]);
  assert.equal(applyLiveMessage(view, msg("m3", 3)), "applied");
  assert.equal(view.lastSeq, 3);
  assert.equal(applyLiveMessage(view, msg("m5", 5)), "held");
  assert.equal(view.lastSeq, 3);
  assert.ok(!view.messages.has("m5"), "a message after a gap is held, not shown");
  assert.equal(applyLiveMessage(view, msg("m4", 4)), "applied");
  assert.equal(view.lastSeq, 5);
  assert.ok(view.messages.has("m5"));
  assert.equal(view.held.size, 0);
});

test("a live message already covered is applied by upsert without moving lastSeq", () => {
  const view = synced(4, [msg("m1", 4)]);
  assert.equal(applyLiveMessage(view, msg("m1", 2)), "stale");
  assert.equal(view.lastSeq, 4);
});

test("delta rule: equal chunk applies, lower is ignored, higher is a gap", () => {
  const view = synced(3, [streaming("a1", 3, "Echo: ", 1, { position: 2 })]);
  assert.equal(applyDelta(view, delta("a1", 1, "hello ")), "applied");
  assert.equal(applyDelta(view, delta("a1", 1, "hello ")), "ignored");
  assert.equal(applyDelta(view, delta("a1", 0, "Echo: ")), "ignored");
  assert.equal(applyDelta(view, delta("a1", 3, "x")), "gap");
  const message = view.messages.get("a1");
  assert.equal(message.content, "Echo: hello ");
  assert.equal(message.chunks, 2);
  assert.equal(view.lastSeq, 3, "deltas never move lastSeq");
});

test("deltas of a finished message or an unknown one", () => {
  const view = synced(4, [msg("a1", 4, { role: "assistant", content: "done", chunks: 2 })]);
  assert.equal(applyDelta(view, delta("a1", 2, "late")), "ignored");
  assert.equal(view.messages.get("a1").content, "done");
  assert.equal(applyDelta(view, delta("zz", 0, "?")), "gap");
});

test("deltas of a held message wait with it", () => {
  const view = synced(1, [msg("m1", 1)]);
  applyLiveMessage(view, streaming("a3", 3, "", 0, { position: 3 }));
  assert.equal(applyDelta(view, delta("a3", 0, "Echo: ")), "held");
  applyLiveMessage(view, msg("m2", 2));
  assert.equal(view.messages.get("a3").content, "Echo: ");
  assert.equal(view.lastSeq, 3);
});

test("subscribe ack: buffered events with seq <= head_seq are skipped, later ones applied in order", () => {
  const view = createView("s1");
  const buffered = [
    { type: "message", payload: { message: streaming("a2", 2, "", 0, { position: 2 }) } },
    { type: "delta", payload: delta("a2", 0, "Echo: ") },
    { type: "delta", payload: delta("a2", 1, "hi") },
    { type: "message", payload: { message: msg("m3", 4, { position: 3 }) } },
  ];
  // The snapshot was read after chunk 0 and includes it.
  const reply = ack("recent", 3, [msg("m1", 1), streaming("a2", 3, "Echo: ", 1, { position: 2 })]);
  const { gap } = applySubscribeAck(view, reply, buffered);
  assert.equal(gap, false);
  assert.equal(view.lastSeq, 4);
  assert.equal(view.messages.get("a2").content, "Echo: hi");
  assert.deepEqual(orderedMessages(view).map((m) => m.id), ["m1", "a2", "m3"]);
});

test("subscribe ack: a buffered delta beyond the snapshot's chunks is a gap", () => {
  const view = createView("s1");
  const reply = ack("recent", 2, [streaming("a2", 2, "Echo: ", 1, { position: 2 })]);
  const { gap } = applySubscribeAck(view, reply, [{ type: "delta", payload: delta("a2", 4, "x") }]);
  assert.equal(gap, true);
});

test("resume merges into the view; reset drops the view", () => {
  const view = synced(2, [msg("m1", 1), msg("m2", 2)]);
  applySubscribeAck(view, ack("resume", 4, [msg("m3", 3), msg("m4", 4)]));
  assert.deepEqual(orderedMessages(view).map((m) => m.id), ["m1", "m2", "m3", "m4"]);
  applySubscribeAck(view, ack("reset", 40, [msg("m39", 39), msg("m40", 40)]));
  assert.deepEqual(orderedMessages(view).map((m) => m.id), ["m39", "m40"]);
  assert.equal(view.lastSeq, 40);
  assert.equal(view.hasOlder, true);
});

test("resume after held messages: the ack covers them and lastSeq continues", () => {
  const view = synced(2, [msg("m1", 1), msg("m2", 2)]);
  applyLiveMessage(view, msg("m5", 5));
  applyLiveMessage(view, msg("m6", 6));
  applySubscribeAck(view, ack("resume", 5, [msg("m3", 3), msg("m4", 4), msg("m5", 5)]));
  assert.equal(view.lastSeq, 6, "the held seq 6 became contiguous");
  assert.equal(view.held.size, 0);
  assert.equal(view.messages.size, 6);
});

test("history adds older messages without moving lastSeq", () => {
  const view = synced(20, [msg("m19", 19), msg("m20", 20)]);
  applyHistory(view, [msg("m17", 17), msg("m18", 18)], true);
  assert.equal(view.lastSeq, 20);
  assert.deepEqual(orderedMessages(view).map((m) => m.id), ["m17", "m18", "m19", "m20"]);
  assert.equal(view.hasOlder, true);
});

test("a view survives serialisation, trimmed to the newest messages", () => {
  const view = synced(5, [1, 2, 3, 4, 5].map((n) => msg(`m${n}`, n)));
  const copy = deserializeView("s1", JSON.parse(JSON.stringify(serializeView(view, 3))));
  assert.equal(copy.lastSeq, 5);
  assert.equal(copy.synced, true);
  assert.equal(copy.hasOlder, true);
  assert.deepEqual(orderedMessages(copy).map((m) => m.id), ["m3", "m4", "m5"]);
  assert.equal(deserializeView("s1", { garbage: true }).synced, false);
});
