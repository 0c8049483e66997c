// TetherClient's small parts (client.js): session and Web Push requests, sign-in refusals, the
// server's hello and its message limits, the remote-logs switch, the change events the app hears.
import assert from "node:assert/strict";
import { test } from "node:test";

import { relayChanges } from "../../src/tether/static/js/client/changes.js";
import { Emitter } from "../../src/tether/static/js/client/emitter.js";
import { Followers } from "../../src/tether/static/js/client/followers.js";
import { ServerHello } from "../../src/tether/static/js/client/hello.js";
import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { ServerPing } from "../../src/tether/static/js/client/ping.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { RemoteLog } from "../../src/tether/static/js/client/remotelog.js";
import { SessionRequests } from "../../src/tether/static/js/client/sessionrequests.js";
import { SignIn } from "../../src/tether/static/js/client/signin.js";
import { KeyValueStore } from "../../src/tether/static/js/client/storage.js";
import { WebPush } from "../../src/tether/static/js/client/webpush.js";
import { FakeClock, FakeConnection, MemoryStorage } from "./support/fakes.mjs";

/** A request function answering from `replies[event]`, recording what was asked. */
function fakeRequest(replies) {
  const asked = [];
  const request = async (event, payload, attempts) => { asked.push({ event, payload, attempts }); return replies[event]; };
  return { asked, request };
}

test("session requests: saves are retried 3 times and applied, the list page replaces the list", async () => {
  const session = { id: "s1", title: "t" };
  const { asked, request } = fakeRequest({
    create_session: { session }, update_session: { session }, list_sessions: { sessions: [session] },
    cancel: { cancelled: true }, retry: { queued: false },
  });
  const seen = { upserts: [], pages: [] };
  const sessions = { upsert: (s) => seen.upserts.push(s), applyPage: (p) => seen.pages.push(p) };
  const requests = new SessionRequests({ sessions, request, uuid: () => "new-id" });
  assert.equal(await requests.create({ title: "t" }), session);
  assert.deepEqual(asked.at(-1), { event: "create_session", payload: { id: "new-id", title: "t" }, attempts: 3 });
  await requests.create();
  assert.deepEqual(asked.at(-1).payload, { id: "new-id" }, "no empty title or agent sent");
  await requests.update("s1", { archived: true });
  assert.deepEqual(asked.at(-1), { event: "update_session", payload: { session_id: "s1", archived: true }, attempts: 3 });
  await requests.refresh();
  assert.deepEqual(asked.at(-1), { event: "list_sessions", payload: { limit: 100 }, attempts: 1 });
  assert.deepEqual(seen, { upserts: [session, session, session], pages: [[session]] });
  assert.equal(await requests.cancel("s1"), true);
  // A Stop is tried again after a dead socket too (connection.test.mjs: Stop on a zombie).
  assert.deepEqual(asked.at(-1), { event: "cancel", payload: { session_id: "s1" }, attempts: 3 });
  assert.equal(await requests.retryAnswer("s1", "m1"), false);
  assert.deepEqual(asked.at(-1), { event: "retry", payload: { session_id: "s1", message_id: "m1" }, attempts: 3 });
});

test("web push: the key only when the server offers push; the subscription sent as stored", async () => {
  let hello = null;
  const { asked, request } = fakeRequest({ push_subscribe: { ok: true }, push_unsubscribe: { removed: true } });
  const push = new WebPush({ hello: () => hello, request });
  assert.equal(push.key, null);
  hello = { push: { public_key: "vapid" } };
  assert.equal(push.key, "vapid");
  await push.subscribe({ endpoint: "https://push.example/1", keys: { p256dh: "p", auth: "a", extra: "x" } }, "phone");
  assert.deepEqual(asked.at(-1), {
    event: "push_subscribe", attempts: 3,
    payload: { endpoint: "https://push.example/1", keys: { p256dh: "p", auth: "a" }, device: "phone" },
  });
  assert.equal(await push.unsubscribe("https://push.example/1"), true);
});

test("sign-in: a refused token is forgotten and said refused; a refused client_id is renewed", () => {
  const connection = new Emitter();
  const identity = { token: "secret", renewed: 0, setToken(t) { this.token = t; }, renew() { this.renewed += 1; } };
  let changes = 0;
  const signIn = new SignIn({ connection, identity, onChange: () => { changes += 1; } });
  connection.emit("unauthorized", { message: "unauthorized" });
  assert.equal(signIn.refused, true);
  assert.equal(identity.token, null);
  connection.emit("unauthorized", { message: "unauthorized" });
  assert.equal(signIn.refused, false, "no token sent: sign-in is required, not refused");
  assert.equal(changes, 2);
  connection.emit("kicked", { reason: "io server disconnect" });
  connection.emit("invalid_client", { message: "invalid_client" });
  assert.equal(identity.renewed, 2);
});

test("hello: received from the connection's events only, its agents kept, then told", () => {
  const connection = new Emitter();
  const shared = new KeyValueStore(new MemoryStorage(), "tether.");
  const received = [];
  const hello = new ServerHello({ connection, shared, ping: new ServerPing(), onReceive: (p) => received.push(p) });
  connection.emit("event", "message", { limits: { max_message_chars: 1 } });
  assert.equal(hello.payload, null, "another event is not a hello");
  const payload = { agents: [{ name: "echo" }], default_agent: "echo", limits: { ping_interval: 3000, ping_timeout: 2000 } };
  connection.emit("event", "hello", payload);
  assert.equal(hello.payload, payload);
  assert.deepEqual(received, [payload]);
  assert.deepEqual(shared.get("agents"), { agents: [{ name: "echo" }], default_agent: "echo" });
  assert.equal(hello.ping.pingInterval, 3000, "the ping settings taken");
});

test("hello: a message is refused when empty, or longer than the server's max_message_chars", () => {
  const hello = new ServerHello({ shared: new KeyValueStore(new MemoryStorage(), "tether."), ping: new ServerPing() });
  assert.throws(() => hello.checkMessage("  \n "), /empty message/);
  hello.checkMessage("x".repeat(100_000)); // no limit known before the first hello
  hello.receive({ limits: { max_message_chars: 5 } });
  hello.checkMessage("12345");
  assert.throws(() => hello.checkMessage("123456"), /message longer than 5 characters/);
});

test("remote logs: the switch is kept across page loads, and restored on", () => {
  const storage = new MemoryStorage();
  const open = () => new RemoteLog({
    logbook: new Logbook({ timers: new FakeClock(), console: null }), endpoint: "http://127.0.0.1:9/api/client-logs",
    token: () => null, clientId: () => "tab-1", timers: new FakeClock(), store: new KeyValueStore(storage, "tether."),
  });
  const first = open();
  first.restore();
  assert.equal(first.enabled, false, "off until switched on");
  first.switchTo(1);
  assert.equal(first.enabled, true);
  const reloaded = open();
  reloaded.restore();
  assert.equal(reloaded.enabled, true, "on again after a reload");
  reloaded.switchTo(false);
  const again = open();
  again.restore();
  assert.equal(again.enabled, false);
});

test("changes: each part's change reaches the app as the client's change, saying what changed", () => {
  const client = Object.assign(new Emitter(), {
    connection: new Emitter(), outbox: new Emitter(), sessions: new Emitter(), followers: new Emitter(),
  });
  const told = [];
  client.on("change", (change) => told.push(change));
  relayChanges(client);
  client.connection.emit("state", { to: "connected" });
  client.connection.emit("stats", {});
  client.connection.emit("disconnect", { reason: "transport close" });
  client.outbox.emit("change");
  client.sessions.emit("change");
  client.followers.emit("change", { what: "messages", sessionId: "s1" });
  client.connection.emit("connect", {});
  assert.deepEqual(told, [
    { what: "connection" }, { what: "debug" }, { what: "connection" }, { what: "outbox" },
    { what: "sessions" }, { what: "messages", sessionId: "s1" },
  ]);
});

test("followers: an acknowledged message of one's own goes to its session's follower only", async () => {
  const clock = new FakeClock();
  const followers = new Followers({
    connection: new FakeConnection(clock, Push), tab: new KeyValueStore(new MemoryStorage(), "tether."),
    viewStore: new KeyValueStore(new MemoryStorage(), "tether.view."), timers: clock,
  });
  const follower = followers.follow("s1"); // subscribing: a message waits in its buffer
  followers.applyOwnMessage({ session_id: "s2", id: "m0", seq: 1 });
  assert.equal(follower.buffer.length, 0, "another session's message is not this follower's");
  followers.applyOwnMessage({ session_id: "s1", id: "m1", seq: 1 });
  assert.equal(follower.buffer.length, 1);
  assert.equal(await followers.loadOlder("s2"), false, "nothing older to load for a session not followed");
});
