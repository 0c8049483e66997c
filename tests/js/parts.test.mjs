// The client's small parts: identity, recovery meter, repeated requests, followers, view-model.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Followers } from "../../src/tether/static/js/client/followers.js";
import { Identity } from "../../src/tether/static/js/client/identity.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { RecoveryMeter } from "../../src/tether/static/js/client/recovery.js";
import { request, RequestError } from "../../src/tether/static/js/client/request.js";
import { KeyValueStore } from "../../src/tether/static/js/client/storage.js";
import { displayMessages } from "../../src/tether/static/js/client/viewmodel.js";
import { FakeClock, FakeConnection, MemoryStorage } from "./support/fakes.mjs";
import { ack, msg } from "./support/messages.mjs";

test("identity: a valid client_id is kept, an invalid one replaced; the token goes in auth", () => {
  const tab = new KeyValueStore(new MemoryStorage(), "t.");
  const shared = new KeyValueStore(new MemoryStorage(), "t.");
  tab.set("client_id", "bad id!");
  let n = 0;
  const identity = new Identity(tab, shared, () => `1234-${++n}`);
  assert.equal(identity.clientId, "1234-1");
  assert.deepEqual(identity.auth(), { client_id: "1234-1" });
  identity.setToken("tok");
  assert.deepEqual(identity.auth(), { token: "tok", client_id: "1234-1" });
  assert.equal(new Identity(tab, shared, () => "x").clientId, "1234-1", "kept across a reload");
  identity.renew();
  assert.equal(tab.get("client_id"), "1234-2");
  identity.setToken("");
  assert.equal(shared.get("token"), null);
});

test("recovery: from the first wake-up signal after the drop until every follower re-synced", () => {
  const meter = new RecoveryMeter();
  meter.wake({ reason: "visibilitychange", at: 1000 });
  meter.wake({ reason: "focus", at: 1001 });
  meter.connected({ reconnect: true, recoveryStartedAt: 900, at: 1300 });
  const live = { state: "live", lastSync: { at: 1400 } };
  const stale = { state: "live", lastSync: { at: 1200 } };
  assert.equal(meter.check([live, stale], 1500), null, "one follower not re-synced on this connection");
  assert.deepEqual(meter.check([live, { state: "gone" }], 1500), { ms: 500, reason: "visibilitychange" });
  assert.equal(meter.lastMs, 500);
  assert.equal(meter.check([live], 1600), null, "nothing pending");
  meter.connected({ reconnect: true, recoveryStartedAt: 5000, at: 5100 });
  assert.deepEqual(meter.check([], 5200), { ms: 200, reason: "reconnect" }, "no wake-up since the drop");
});

test("request: repeated by the retry policy while unavailable; other errors end it", async () => {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  connection.connected = false;
  let pushed = 0;
  const counting = { push: (...args) => { pushed += 1; return connection.push(...args); } };
  const pending = assert.rejects(
    request(counting, "cancel", {}, { attempts: 3, timers: clock, random: () => 0.999999 }),
    (error) => error instanceof RequestError && error.code === "unavailable",
  );
  const times = [];
  for (let i = 0; i < 20 && pushed < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (pushed > times.length) times.push(clock.now());
    clock.advance(50);
  }
  await pending;
  assert.equal(pushed, 3);
  assert.deepEqual(times.slice(1).map((t, i) => t - times[i]), [250, 500], "the retry policy's delays");
  connection.connected = true;
  const failing = request(connection, "cancel", {}, { attempts: 3, timers: clock });
  connection.answer("cancel", { ok: false, error: { code: "not_found", message: "no" } });
  await assert.rejects(failing, { code: "not_found" });
  assert.equal(connection.requests("cancel").length, 1, "not repeated");
  const ok = request(connection, "cancel", {}, { timers: clock });
  connection.answer("cancel", { ok: true, cancelled: true });
  assert.equal((await ok).cancelled, true);
});

test("request: again() is asked before each repeat, and false ends it with null", async () => {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  connection.connected = false;
  let pushed = 0;
  const asked = [];
  const counting = { push: (...args) => { pushed += 1; return connection.push(...args); } };
  const done = request(counting, "cancel", {}, {
    attempts: 3, timers: clock, again: () => { asked.push(pushed); return asked.length < 2; },
  });
  for (let i = 0; i < 40 && asked.length < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(50);
  }
  assert.equal(await done, null);
  assert.deepEqual(asked, [1, 2], "asked before the second and the third push, not the first");
  assert.equal(pushed, 2);
});

test("followers: kept in the tab's storage, events routed, unsubscribed when left", () => {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  const storage = new MemoryStorage();
  const make = () => new Followers({
    connection, tab: new KeyValueStore(storage, "t."), viewStore: new KeyValueStore(storage, "t.view."), timers: clock,
  });
  const followers = make();
  const changes = [];
  followers.on("change", (change) => changes.push(change));
  const follower = followers.follow("s1");
  assert.equal(followers.follow("s1"), follower, "one follower per session");
  connection.answer("subscribe", ack("recent", 1, [msg("m1", 1)]));
  followers.route("message", { session_id: "s1", message: msg("m2", 2) });
  followers.route("message", { session_id: "other", message: msg("x", 1) });
  assert.deepEqual(follower.messages.map((m) => m.id), ["m1", "m2"]);
  assert.ok(changes.every((c) => c.what === "messages" && c.sessionId === "s1"));
  const again = make();
  again.restore();
  assert.ok(again.get("s1"), "a reload follows it again");
  followers.unfollow("s1");
  assert.deepEqual(connection.requests("unsubscribe").map((r) => r.payload), [{ session_id: "s1" }]);
  const after = make();
  after.restore();
  assert.equal([...after.values()].length, 0);
});

test("view-model: server messages, then unacknowledged outbox entries not yet on the server", () => {
  const shown = displayMessages("s1", [msg("m1", 1, { client_msg_id: "c1" }), msg("a1", 2, { role: "assistant", status: "streaming" })], [
    { client_msg_id: "c1", content: "dup", state: "pending", error: null },
    { client_msg_id: "c2", content: "later", state: "failed", error: { message: "too long" } },
  ]);
  assert.deepEqual(shown.map((m) => [m.id, m.displayStatus, m.local]), [["m1", "sent", false], ["a1", "streaming", false], [null, "failed", true]]);
  assert.equal(shown[2].error, "too long");
});
