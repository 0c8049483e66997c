// The chat cache tied to a TetherClient over a fake socket: a cold start shows what the cache
// holds before connecting, then resumes from it by the merge rule; nothing doubles; a reset or
// another user clears it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChatCache } from "../../src/tether/static/js/client/cache.js";
import { ownerOf } from "../../src/tether/static/js/client/cacherules.js";
import { CacheSync } from "../../src/tether/static/js/client/cachesync.js";
import { TetherClient } from "../../src/tether/static/js/client/client.js";
import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { FakeClock, FakeEnv, fakeIo, MemoryStorage } from "./support/fakes.mjs";
import { ack, msg } from "./support/messages.mjs";
import { MemoryRecords } from "./support/records.mjs";

const SESSION = { id: "s1", title: "cached chat", agent: "echo", head_seq: 2, running: false, archived: false,
                  updated_at: "2024-01-01T00:00:00Z", preview: "text of m2" };

/** Records as a previous page of `owner` left them: session s1 with m1, m2 at lastSeq 2 of e1. */
function previousPage(owner = "local", now = new FakeClock().now()) {
  return new MemoryRecords([
    { key: "sessions", owner, savedAt: now, sessions: [SESSION] },
    { key: "view:s1", owner, savedAt: now, sessionId: "s1",
      view: { v: 1, lastSeq: 2, synced: true, hasOlder: false, epoch: "e1", messages: [msg("m1", 1), msg("m2", 2)] } },
  ]);
}

async function setup({ records = previousPage(), sharedStorage = new MemoryStorage(), token = null } = {}) {
  const clock = new FakeClock();
  const io = fakeIo();
  let n = 0;
  if (token) sharedStorage.setItem("tether.token", JSON.stringify(token));
  const client = new TetherClient({
    url: "http://127.0.0.1:9", io, env: new FakeEnv(), tabStorage: new MemoryStorage(), sharedStorage,
    timers: clock, random: () => 0.5, uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    fetch: async () => ({ ok: true, status: 204 }), logbook: new Logbook({ timers: clock, console: null }),
  });
  const cache = new ChatCache({ records, timers: clock });
  const sync = new CacheSync(client, cache);
  const loaded = await sync.restore();
  return { clock, io, client, cache, sync, records, loaded };
}

function connect(t) {
  t.client.start();
  const socket = t.io.sockets[0];
  socket.accept();
  t.clock.advance(2);
  socket.answer("heartbeat", { ok: true, server_time: 1 });
  return socket;
}

const ids = (t) => t.client.messagesFor("s1").map((m) => m.id ?? m.client_msg_id);

test("a cold start shows the cached chats and messages before connecting, then resumes from them", async () => {
  const t = await setup();
  assert.equal(t.loaded, true);
  assert.deepEqual(t.client.view(null).sessions.map((s) => s.title), ["cached chat"]);
  t.client.follow("s1");
  assert.deepEqual(ids(t), ["m1", "m2"]); // before any connection attempt
  assert.equal(t.io.sockets[0].attempts, 0);

  const socket = connect(t);
  const [subscribe] = socket.requests("subscribe");
  assert.deepEqual(subscribe.payload, { session_id: "s1", after_seq: 2, limit: 15, epoch: "e1" });
  socket.answer("subscribe", { ...ack("resume", 3, [msg("m3", 3)]), session: { ...SESSION, epoch: "e1", head_seq: 3 } });
  assert.deepEqual(ids(t), ["m1", "m2", "m3"]);

  await t.sync.flush();
  const stored = t.records.get("view:s1").view;
  assert.equal(stored.lastSeq, 3);
  assert.deepEqual(stored.messages.map((m) => m.id), ["m1", "m2", "m3"]);
});

test("a message composed before the connection is delivered and shown once, and cached once", async () => {
  const t = await setup();
  t.client.follow("s1");
  const entry = t.client.send("s1", "typed offline");
  assert.deepEqual(t.client.messagesFor("s1").map((m) => m.displayStatus), ["sent", "sent", "pending"]);

  const socket = connect(t);
  const mine = msg("m3", 3, { content: "typed offline", client_msg_id: entry.client_msg_id });
  socket.answer("send", { ok: true, message: mine, duplicate: false });
  // The resume carries the same message again: merged by id, never doubled.
  socket.answer("subscribe", { ...ack("resume", 3, [mine]), session: { ...SESSION, epoch: "e1" } });
  const shown = t.client.messagesFor("s1");
  assert.deepEqual(shown.map((m) => m.id), ["m1", "m2", "m3"]);
  assert.equal(shown.filter((m) => m.content === "typed offline").length, 1);
  assert.equal(socket.requests("send").length, 1);

  await t.sync.flush();
  const cached = t.records.get("view:s1").view.messages;
  assert.equal(cached.filter((m) => m.content === "typed offline").length, 1);
});

test("a reset (a new epoch) rebuilds the view and replaces the cached one: no stale message stays", async () => {
  const t = await setup();
  t.client.follow("s1");
  const socket = connect(t);
  socket.answer("subscribe", { ...ack("reset", 1, [msg("n1", 1)]), session: { ...SESSION, epoch: "e2", head_seq: 1 } });
  assert.deepEqual(ids(t), ["n1"]);
  await t.sync.flush();
  const stored = t.records.get("view:s1").view;
  assert.equal(stored.epoch, "e2");
  assert.deepEqual(stored.messages.map((m) => m.id), ["n1"]);
});

test("a session the server no longer has is dropped from the cache", async () => {
  const t = await setup();
  t.client.follow("s1");
  const socket = connect(t);
  socket.answer("subscribe", { ok: false, error: { code: "not_found", message: "no such session" } });
  await t.sync.flush();
  assert.equal(t.records.get("view:s1"), null);
  t.client.unfollow("s1"); // closing a follower stores its view: not this one's
  await t.sync.flush();
  assert.equal(t.records.get("view:s1"), null);
});

test("a refused token clears the cache and the session list: nothing of that user stays", async () => {
  const owner = ownerOf("tt_alice");
  const t = await setup({ records: previousPage(owner), token: "tt_alice" });
  assert.equal(t.client.view(null).sessions.length, 1);
  t.client.start();
  t.io.sockets[0].refuse("unauthorized");
  assert.equal(t.client.view(null).sessions.length, 0);
  await t.cache.writing;
  await t.sync.flush();
  assert.ok(!t.records.keys.includes("view:s1"));
  assert.deepEqual(t.records.get("sessions")?.sessions ?? [], []);
});

test("another user's cache is never shown, and switching account forgets the previous one", async () => {
  const sharedStorage = new MemoryStorage();
  const t = await setup({ records: previousPage(ownerOf("tt_alice")), sharedStorage, token: "tt_bob" });
  assert.equal(t.client.view(null).sessions.length, 0); // bob's page shows nothing of alice's
  t.client.follow("s1");
  assert.deepEqual(ids(t), []);

  const alice = await setup({ records: previousPage(ownerOf("tt_alice")), token: "tt_alice" });
  assert.equal(alice.client.view(null).sessions.length, 1);
  alice.client.follow("s1"); // alice's chat is open when the account changes
  assert.deepEqual(ids(alice), ["m1", "m2"]);
  alice.client.setToken("tt_carol");
  await alice.sync.forgetUser();
  assert.equal(alice.client.view(null).sessions.length, 0);
  alice.client.unfollow("s1"); // closing it must not file alice's messages under carol
  await alice.sync.flush();
  assert.ok(!alice.records.keys.includes("view:s1"), alice.records.keys);
  assert.ok(alice.records.keys.every((key) => alice.records.get(key).owner === ownerOf("tt_carol")));
  alice.client.follow("s2"); // carol's own chats are stored again
  alice.client.followers.get("s2").persistNow();
  await alice.sync.flush();
  assert.equal(alice.records.get("view:s2")?.owner, ownerOf("tt_carol"));
});

test("a cache that does not answer holds the start back no longer than the timeout", async () => {
  const records = previousPage();
  records.hanging = true;
  const clock = new FakeClock();
  const client = new TetherClient({
    url: "http://127.0.0.1:9", io: fakeIo(), env: new FakeEnv(), timers: clock, uuid: () => "00000000-0000-4000-8000-000000000001",
    logbook: new Logbook({ timers: clock, console: null }), fetch: async () => ({ ok: true }),
  });
  const sync = new CacheSync(client, new ChatCache({ records, timers: clock }), { loadTimeoutMs: 500 });
  const restored = sync.restore();
  clock.advance(500);
  assert.equal(await restored, false);
  assert.equal(client.view(null).sessions.length, 0);
});
