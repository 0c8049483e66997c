// Whose an outbox entry is (account.js): the pure rules, and the outbox and client keeping one
// browser's accounts apart.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  accountOf, belongsTo, DECISIONS, KnownUsers, sendDecision, tagsOf, UNCLAIMED_MAX_AGE_MS, unclaimedExpired,
} from "../../src/tether/static/js/client/account.js";
import { ownerOf } from "../../src/tether/static/js/client/cacherules.js";
import { TetherClient } from "../../src/tether/static/js/client/client.js";
import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { Outbox } from "../../src/tether/static/js/client/outbox.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { KeyValueStore } from "../../src/tether/static/js/client/storage.js";
import { FakeClock, FakeConnection, FakeEnv, fakeIo, MemoryStorage } from "./support/fakes.mjs";
import { msg } from "./support/messages.mjs";

const alice = { owner: "t:alice", user: "u-alice" };
const bob = { owner: "t:bob", user: "u-bob" };
const entry = (fields) => ({ client_msg_id: "cm", session_id: "s1", content: "x", created_at: 0, ...fields });

test("an entry is its account's by the same token or the same user, never another's", () => {
  const tagged = entry(tagsOf(alice));
  assert.deepEqual(tagsOf(alice), { owner: "t:alice", user_id: "u-alice" });
  assert.equal(belongsTo(tagged, alice), true);
  assert.equal(belongsTo(tagged, bob), false);
  assert.equal(belongsTo(tagged, { owner: "t:alice-new-token", user: "u-alice" }), true, "same user, new token");
  assert.equal(belongsTo(entry({ owner: "t:alice", user_id: null }), { owner: "t:other", user: null }), false,
    "no user id on either side: only the token tells");
  assert.equal(belongsTo(entry({}), alice), false, "an unclaimed entry is shown to nobody");
  assert.equal(belongsTo(tagged, null), false);
});

test("send decisions: this account's go, another's are kept, unclaimed ones are offered once", () => {
  const mine = entry(tagsOf(alice));
  assert.equal(sendDecision(mine, null), DECISIONS.WAIT, "not signed in yet");
  assert.equal(sendDecision(mine, alice), DECISIONS.SEND);
  assert.equal(sendDecision(mine, bob), DECISIONS.SKIP);
  // Another token, whose user the server has not named yet: it may be alice again.
  assert.equal(sendDecision(mine, { owner: "t:new", user: null }), DECISIONS.WAIT);
  assert.equal(sendDecision(mine, { owner: "t:new", user: "u-alice" }), DECISIONS.SEND);
  assert.equal(sendDecision(entry({ owner: "t:alice", user_id: null }), { owner: "t:new", user: null }), DECISIONS.SKIP);
  assert.equal(sendDecision(entry({}), bob), DECISIONS.OFFER);
  assert.equal(sendDecision(entry({}), bob, () => true), DECISIONS.SKIP, "refused for bob already");
});

test("the tab's account: its token's owner with the user last seen for it, bounded", () => {
  const store = new KeyValueStore(new MemoryStorage(), "tether.");
  const users = new KnownUsers(store, { limit: 2 });
  assert.deepEqual(accountOf(null, users), { owner: "local", user: null });
  assert.deepEqual(accountOf("secret", users), { owner: ownerOf("secret"), user: null });
  users.remember(ownerOf("secret"), "u1");
  assert.deepEqual(accountOf("secret", users), { owner: ownerOf("secret"), user: "u1" });
  users.remember("t:b", "u2");
  users.remember("t:c", "u3");
  assert.equal(users.user(ownerOf("secret")), null, "the oldest goes past the limit");
  assert.equal(new KnownUsers(store).user("t:c"), "u3", "kept in the shared store");
  assert.ok(!JSON.stringify(store.get("users")).includes("secret"), "never the token itself");
});

test("an unclaimed entry expires after UNCLAIMED_MAX_AGE_MS; a tagged one never", () => {
  assert.equal(unclaimedExpired(entry({ created_at: 0 }), UNCLAIMED_MAX_AGE_MS), false);
  assert.equal(unclaimedExpired(entry({ created_at: 0 }), UNCLAIMED_MAX_AGE_MS + 1), true);
  assert.equal(unclaimedExpired(entry({ ...tagsOf(alice), created_at: 0 }), 10 * UNCLAIMED_MAX_AGE_MS), false);
});

function outboxAs({ storage, tab, sender, clock = new FakeClock() }) {
  const connection = new FakeConnection(clock, Push);
  let n = 0;
  const account = { tab, sender };
  const outbox = new Outbox({
    connection, store: new KeyValueStore(storage, "tether.outbox."), timers: clock,
    account: () => account.tab, sendingAs: () => account.sender, uuid: () => `cm-${tab.owner}-${++n}`,
    random: () => 0.999999,
  });
  return { connection, outbox, account };
}

const ackOf = (request) => ({
  ok: true, duplicate: false,
  message: msg("m1", 1, { client_msg_id: request.payload.client_msg_id, content: request.payload.content }),
});

test("another account's queued entries are neither shown, sent, retried nor dropped, and stay for it", () => {
  const storage = new MemoryStorage();
  const first = outboxAs({ storage, tab: alice, sender: null });
  first.outbox.add("s1", "alice's words");
  const asBob = outboxAs({ storage, tab: bob, sender: bob });
  assert.deepEqual(asBob.outbox.entries, [], "not shown to bob");
  assert.deepEqual(asBob.outbox.entriesFor("s1"), []);
  asBob.outbox.add("s2", "bob's words");
  const sent = asBob.connection.requests("send");
  assert.deepEqual(sent.map((r) => r.payload.content), ["bob's words"], "only bob's is sent as bob");
  asBob.outbox.discard("cm-t:alice-1");
  asBob.connection.answer("send", ackOf(sent[0]));
  assert.equal(asBob.connection.requests("send").length, 1, "alice's entry is not sent after bob's either");
  const back = outboxAs({ storage, tab: alice, sender: alice });
  assert.deepEqual(back.outbox.entries.map((e) => e.content), ["alice's words"], "kept for alice");
  back.outbox.flush();
  assert.deepEqual(back.connection.requests("send").map((r) => r.payload.content), ["alice's words"]);
});

test("a connection whose user is not known yet holds the entries a user id decides until hello", () => {
  const storage = new MemoryStorage();
  outboxAs({ storage, tab: alice, sender: null }).outbox.add("s1", "first, under the old token");
  const renewed = { owner: "t:alice-2", user: null }; // alice signed in again with a new token
  const t = outboxAs({ storage, tab: renewed, sender: renewed });
  t.outbox.add("s1", "second, under the new token");
  assert.equal(t.connection.requests("send").length, 0, "the older entry's account is not known yet: hold the order");
  t.account.sender = t.account.tab = { owner: "t:alice-2", user: "u-alice" }; // the hello said
  t.outbox.signedIn();
  const sends = t.connection.requests("send");
  assert.deepEqual(sends.map((r) => r.payload.content), ["first, under the old token"]);
  t.connection.answer("send", ackOf(sends[0]));
  assert.deepEqual(t.connection.requests("send").map((r) => r.payload.content),
    ["first, under the old token", "second, under the new token"], "in the order typed");
  const stored = JSON.parse(storage.getItem("tether.outbox.cm-t:alice-2-1"));
  assert.equal(stored.user_id, "u-alice", "tagged with the user once known");
});

test("an unclaimed entry (stored before the tags) is shown to nobody and stored only for its chat's owner", () => {
  const storage = new MemoryStorage();
  const legacy = { client_msg_id: "old-1", session_id: "alices-chat", content: "from before", created_at: 0,
    state: "pending", attempts: 0, error: null };
  storage.setItem("tether.outbox.old-1", JSON.stringify(legacy));
  const asBob = outboxAs({ storage, tab: bob, sender: bob });
  assert.deepEqual(asBob.outbox.entries, []);
  asBob.outbox.flush(); // connected as bob
  const offered = asBob.connection.requests("send");
  assert.equal(offered.length, 1, "offered to the server as bob");
  asBob.connection.answer("send", { ok: false, code: "not_found", message: "no such session" });
  assert.equal(asBob.outbox.items.get("old-1").state, "pending", "not failed: nobody could retry it");
  assert.deepEqual(asBob.outbox.entries, [], "still shown to nobody");
  asBob.outbox.add("s2", "bob's");
  assert.equal(asBob.connection.requests("send").length, 2, "bob's goes; the refused one is not offered again");
  assert.equal(asBob.connection.requests("send")[1].payload.content, "bob's");
  assert.ok(storage.getItem("tether.outbox.old-1"), "kept for its account");

  const asAlice = outboxAs({ storage, tab: alice, sender: alice });
  asAlice.outbox.flush();
  const [offer] = asAlice.connection.requests("send");
  assert.equal(offer.payload.client_msg_id, "old-1", "the same client_msg_id: stored at most once");
  let delivered = null;
  asAlice.outbox.on("sent", (event) => { delivered = event; });
  asAlice.connection.answer("send", ackOf(offer));
  assert.equal(delivered.entry.client_msg_id, "old-1");
  assert.equal(storage.getItem("tether.outbox.old-1"), null);
});

test("an unclaimed entry older than UNCLAIMED_MAX_AGE_MS is dropped at load", () => {
  const storage = new MemoryStorage();
  storage.setItem("tether.outbox.old", JSON.stringify({ client_msg_id: "old", session_id: "s", content: "x", created_at: 0, state: "pending", attempts: 0 }));
  const clock = new FakeClock();
  clock.advance(UNCLAIMED_MAX_AGE_MS + 1);
  outboxAs({ storage, tab: bob, sender: null, clock });
  assert.equal(storage.getItem("tether.outbox.old"), null);
});

function tab(sharedStorage) {
  const clock = new FakeClock();
  const io = fakeIo();
  let n = 0;
  const client = new TetherClient({
    url: "http://127.0.0.1:9", io, env: new FakeEnv(), tabStorage: new MemoryStorage(), sharedStorage, timers: clock,
    random: () => 0.5, uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    fetch: async () => ({ ok: true, status: 204 }), logbook: new Logbook({ timers: clock, console: null }),
  });
  return { clock, io, client };
}

function connectAs(t, userId) {
  const socket = t.io.sockets.at(-1);
  socket.accept();
  socket.fire("hello", { protocol: 1, limits: {}, user: { id: userId, name: userId } });
  return socket;
}

test("a browser signed out of alice and into bob: bob's connection neither sends nor shows alice's queue", () => {
  const shared = new MemoryStorage();
  const a = tab(shared);
  a.client.setToken("alice-token");
  a.client.start();
  connectAs(a, "u-alice");
  a.io.sockets.at(-1).close(); // offline
  a.client.send("s1", "typed offline as alice");
  a.client.setToken("bob-token"); // another account signs in, still offline
  assert.deepEqual(a.client.messagesFor("s1").filter((m) => m.local), [], "not shown to bob");
  assert.equal(a.client.view("s1").pendingCount, 0);
  a.clock.advance(60_000);
  const bobSocket = connectAs(a, "u-bob");
  assert.equal(bobSocket.auth.token, "bob-token");
  assert.equal(bobSocket.requests("send").length, 0, "not sent as bob");

  const b = tab(shared); // a later page load signed in as alice again (a new token)
  b.client.setToken("alice-token-2");
  b.client.start();
  const aliceSocket = connectAs(b, "u-alice");
  const [sent] = aliceSocket.requests("send");
  assert.equal(sent.payload.content, "typed offline as alice");
  assert.equal(aliceSocket.auth.token, "alice-token-2");
  assert.equal(b.client.messagesFor("s1").filter((m) => m.local).length, 1, "shown to alice");
});
