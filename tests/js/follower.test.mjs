import assert from "node:assert/strict";
import { test } from "node:test";

import { FOLLOWER_STATES, SessionFollower } from "../../src/tether/static/js/client/follower.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { KeyValueStore } from "../../src/tether/static/js/client/storage.js";
import { FakeClock, FakeConnection, MemoryStorage } from "./support/fakes.mjs";
import { ack, delta, msg, streaming } from "./support/messages.mjs";

function setup({ storage = new MemoryStorage() } = {}) {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  const store = new KeyValueStore(storage, "tether.view.");
  const follower = new SessionFollower({ sessionId: "s1", connection, store, timers: clock });
  return { clock, connection, follower, storage, store };
}

const ids = (follower) => follower.messages.map((m) => m.id);

test("first subscribe asks for the recent messages; live events during it are buffered", () => {
  const { connection, follower } = setup();
  follower.subscribe();
  assert.equal(follower.state, FOLLOWER_STATES.SUBSCRIBING);
  assert.deepEqual(connection.requests("subscribe")[0].payload, { session_id: "s1", after_seq: null, limit: 15 });
  follower.onMessage({ session_id: "s1", message: msg("m3", 3) });
  assert.deepEqual(ids(follower), [], "nothing applied before the ack");
  connection.answer("subscribe", ack("recent", 2, [msg("m1", 1), msg("m2", 2)]));
  assert.equal(follower.state, FOLLOWER_STATES.LIVE);
  assert.deepEqual(ids(follower), ["m1", "m2", "m3"]);
  assert.equal(follower.lastSeq, 3);
});

test("gap: a held message triggers a re-subscribe with after_seq = lastSeq after about 1 s", () => {
  const { clock, connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", ack("recent", 2, [msg("m1", 1), msg("m2", 2)]));
  follower.onMessage({ session_id: "s1", message: msg("m4", 4) });
  clock.advance(999);
  assert.equal(connection.requests("subscribe").length, 1);
  clock.advance(1);
  const again = connection.requests("subscribe")[1];
  assert.deepEqual(again.payload, { session_id: "s1", after_seq: 2, limit: 15 });
  connection.answer("subscribe", ack("resume", 4, [msg("m3", 3), msg("m4", 4)]));
  assert.deepEqual(ids(follower), ["m1", "m2", "m3", "m4"]);
  assert.equal(follower.lastSeq, 4);
});

test("a gap filled in time needs no re-subscribe", () => {
  const { clock, connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", ack("recent", 2, []));
  follower.onMessage({ session_id: "s1", message: msg("m4", 4) });
  clock.advance(300);
  follower.onMessage({ session_id: "s1", message: msg("m3", 3) });
  clock.advance(5000);
  assert.equal(connection.requests("subscribe").length, 1);
  assert.equal(follower.lastSeq, 4);
});

test("a delta gap re-subscribes at once; a gap found while subscribing waits for the ack", () => {
  const { connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", ack("recent", 1, [streaming("a1", 1, "Echo: ", 1)]));
  follower.onDelta(delta("a1", 1, "one "));
  assert.equal(follower.messages[0].content, "Echo: one ");
  follower.onDelta(delta("a1", 3, "three "));
  assert.equal(connection.requests("subscribe").length, 2);
  follower.onDelta(delta("a1", 4, "four "));
  follower.subscribe("resync");
  assert.equal(connection.requests("subscribe").length, 2, "one subscribe at a time");
  connection.answer("subscribe", ack("resume", 1, [streaming("a1", 1, "Echo: one two three ", 4)]));
  assert.equal(follower.messages[0].content, "Echo: one two three four ");
  assert.equal(connection.requests("subscribe").length, 3, "asked again while pending: subscribes again");
});

test("after a reconnect the follower resumes from lastSeq and shows each missed message once", () => {
  const { connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", ack("recent", 2, [msg("m1", 1), streaming("a2", 2, "Echo: ", 1, { position: 2 })]));
  follower.disconnected();
  assert.equal(follower.state, FOLLOWER_STATES.IDLE);
  follower.subscribe("reconnect");
  assert.equal(connection.requests("subscribe")[1].payload.after_seq, 2);
  // a live event of the new connection races the ack
  follower.onMessage({ session_id: "s1", message: msg("m4", 6, { position: 4 }) });
  connection.answer("subscribe", ack("resume", 5, [
    msg("a2", 3, { position: 2, role: "assistant", content: "Echo: hi", chunks: 2 }),
    msg("m3", 4, { position: 3 }),
    streaming("a4", 5, "Echo: ", 1, { position: 5 }),
  ]));
  assert.deepEqual(ids(follower), ["m1", "a2", "m3", "m4", "a4"]);
  assert.equal(follower.lastSeq, 6);
  assert.equal(new Set(ids(follower)).size, ids(follower).length);
});

test("reset drops the view and rebuilds it", () => {
  const { connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", ack("recent", 2, [msg("m1", 1), msg("m2", 2)]));
  follower.subscribe("resync");
  connection.answer("subscribe", ack("reset", 3000, [msg("m999", 3000, { position: 999 })]));
  assert.deepEqual(ids(follower), ["m999"]);
  assert.equal(follower.lastSeq, 3000);
});

test("the view is kept in the tab's storage and a reload resumes from it", () => {
  const first = setup();
  first.follower.subscribe();
  first.connection.answer("subscribe", ack("recent", 2, [msg("m1", 1), msg("m2", 2)]));
  first.clock.advance(300);
  const again = setup({ storage: first.storage });
  assert.deepEqual(ids(again.follower), ["m1", "m2"], "shown at once after a reload");
  again.follower.subscribe("reload");
  assert.equal(again.connection.requests("subscribe")[0].payload.after_seq, 2);
});

test("subscribe failures: not_found ends it; unavailable and timeouts retry", () => {
  const { clock, connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", { ok: false, error: { code: "unavailable", message: "db" } });
  clock.advance(1000);
  assert.equal(connection.requests("subscribe").length, 2);
  clock.advance(10_000);
  clock.advance(1000);
  assert.equal(connection.requests("subscribe").length, 3, "a timed-out subscribe is retried");
  connection.answer("subscribe", { ok: false, error: { code: "not_found", message: "no" } });
  assert.equal(follower.state, FOLLOWER_STATES.GONE);
});

test("history pages older messages", async () => {
  const { connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", ack("recent", 30, [msg("m16", 29, { position: 16 }), msg("m17", 30, { position: 17 })]));
  const loading = follower.loadOlder();
  assert.deepEqual(connection.requests("history")[0].payload, { session_id: "s1", before_position: 16, limit: 15 });
  connection.answer("history", { ok: true, messages: [msg("m15", 10, { position: 15 })], has_more: true });
  assert.equal(await loading, true);
  assert.deepEqual(ids(follower), ["m15", "m16", "m17"]);
  assert.equal(follower.lastSeq, 30);
});

const withEpoch = (reply, epoch) => ({ ...reply, session: { ...reply.session, epoch } });

test("epoch: kept with lastSeq and sent with after_seq; a reset on another log replaces the view", () => {
  const { connection, follower } = setup();
  follower.subscribe();
  assert.equal("epoch" in connection.requests("subscribe")[0].payload, false, "no position yet: no epoch");
  connection.answer("subscribe", withEpoch(ack("recent", 2, [msg("m1", 1), msg("m2", 2)]), "e1"));
  assert.equal(follower.epoch, "e1");
  follower.disconnected();
  follower.subscribe("reconnect");
  assert.deepEqual(connection.requests("subscribe")[1].payload, { session_id: "s1", after_seq: 2, epoch: "e1", limit: 15 });
  // the server's log is another one now (a restored database): it answers reset
  connection.answer("subscribe", withEpoch(ack("reset", 5, [msg("r1", 5, { position: 1 })]), "e2"));
  assert.deepEqual(ids(follower), ["r1"]);
  assert.equal(follower.lastSeq, 5);
  assert.equal(follower.epoch, "e2");
  follower.subscribe("again");
  assert.equal(connection.requests("subscribe")[2].payload.epoch, "e2");
});

test("epoch: stored with the view, so a reload resumes on the same log; old servers send none", () => {
  const first = setup();
  first.follower.subscribe();
  first.connection.answer("subscribe", withEpoch(ack("recent", 3, [msg("m1", 3)]), "e7"));
  first.follower.persistNow();
  const again = setup({ storage: first.storage });
  assert.equal(again.follower.epoch, "e7");
  again.follower.subscribe("reload");
  assert.deepEqual(again.connection.requests("subscribe")[0].payload, { session_id: "s1", after_seq: 3, epoch: "e7", limit: 15 });
  again.connection.answer("subscribe", ack("resume", 3, []));
  assert.equal(again.follower.epoch, null, "a server without epochs: none is sent next time");
  again.follower.subscribe("next");
  assert.equal("epoch" in again.connection.requests("subscribe")[1].payload, false);
});

test("a gone session stays gone; an answer to a subscribe of a closed follower is ignored", () => {
  const { connection, follower } = setup();
  follower.subscribe();
  connection.answer("subscribe", { ok: false, error: { code: "not_found", message: "no" } });
  assert.equal(follower.state, FOLLOWER_STATES.GONE);
  follower.subscribe("again");
  follower.disconnected();
  follower.close();
  assert.equal(follower.state, FOLLOWER_STATES.GONE);
  assert.equal(connection.requests("subscribe").length, 1);
  const other = setup();
  other.follower.subscribe();
  other.follower.close();
  other.connection.answer("subscribe", ack("recent", 1, [msg("m1", 1)]));
  assert.equal(other.follower.state, FOLLOWER_STATES.IDLE);
  assert.deepEqual(ids(other.follower), [], "a closed follower does not come back to life");
});

test("failed subscribes on a live connection are retried by the retry policy, growing", () => {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  const follower = new SessionFollower({ sessionId: "s1", connection, timers: clock, random: () => 0.999999 });
  follower.subscribe();
  const waits = [];
  for (let i = 0; i < 4; i++) {
    const count = connection.requests("subscribe").length;
    connection.answer("subscribe", { ok: false, error: { code: "unavailable", message: "db" } });
    const failedAt = clock.now();
    while (connection.requests("subscribe").length === count) clock.advance(1);
    waits.push(clock.now() - failedAt);
  }
  assert.deepEqual(waits, [250, 500, 1000, 2000]);
  connection.answer("subscribe", ack("recent", 0, []));
  assert.equal(follower.retry.tries, 0, "a success starts the schedule over");
});
