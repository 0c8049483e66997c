// TetherClient over a fake socket: the pieces together, as the app uses them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TetherClient } from "../../src/tether/static/js/client/client.js";
import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { FakeBroadcastHub, FakeClock, FakeEnv, fakeIo, MemoryStorage } from "./support/fakes.mjs";
import { ack, msg, streaming } from "./support/messages.mjs";

function setup({ tabStorage = new MemoryStorage(), sharedStorage = new MemoryStorage(),
                 basePath = undefined, clock = new FakeClock(), channel = null } = {}) {
  const env = new FakeEnv();
  const io = fakeIo();
  let n = 0;
  const client = new TetherClient({
    url: "http://127.0.0.1:9", basePath, io, env, tabStorage, sharedStorage, timers: clock,
    random: () => 0.5, uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    fetch: async () => ({ ok: true, status: 204 }),
    logbook: new Logbook({ timers: clock, console: null }), channel,
  });
  client.start();
  const socket = io.sockets[0];
  return { clock, env, io, client, socket, tabStorage, sharedStorage };
}

function connect(t) {
  t.socket.accept();
  t.clock.advance(2);
  t.socket.answer("heartbeat", { ok: true, server_time: 1 });
  t.socket.answer("list_sessions", { ok: true, sessions: [], has_more: false });
}

test("client_id is per tab, valid, and kept across a reload", () => {
  const t = setup();
  assert.match(t.client.clientId, /^[A-Za-z0-9_-]{1,64}$/);
  const again = setup({ tabStorage: t.tabStorage });
  assert.equal(again.client.clientId, t.client.clientId);
  let auth;
  t.socket.options.auth((a) => { auth = a; });
  assert.deepEqual(auth, { client_id: t.client.clientId });
});

test("the socket and the log endpoint are under basePath, at the top by default", () => {
  const top = setup();
  assert.equal(top.socket.options.path, "/socket.io");
  assert.equal(top.client.remoteLog.endpoint, "http://127.0.0.1:9/api/client-logs");
  const mounted = setup({ basePath: "/chat" });
  assert.equal(mounted.socket.url, "http://127.0.0.1:9");
  assert.equal(mounted.socket.options.path, "/chat/socket.io");
  assert.equal(mounted.client.remoteLog.endpoint, "http://127.0.0.1:9/chat/api/client-logs");
});

test("a token is sent in auth once set", () => {
  const t = setup();
  t.client.setToken("secret");
  let auth;
  t.socket.options.auth((a) => { auth = a; });
  assert.equal(auth.token, "secret");
  assert.equal(JSON.parse(t.sharedStorage.getItem("tether.token")), "secret");
});

test("after a zombie is dropped, followed sessions resume from last_seq and the outbox is re-sent", () => {
  const t = setup();
  connect(t);
  t.client.follow("s1");
  t.socket.answer("subscribe", ack("recent", 2, [msg("m1", 1), msg("m2", 2)]));
  t.env.hide();
  t.client.send("s1", "typed before the tunnel"); // emitted into the soon-dead socket
  t.clock.advance(2000); // below the wake-up race's threshold: the probe alone decides
  t.env.show();
  t.clock.advance(400); // the heartbeat probe times out
  assert.equal(t.client.state, "connecting");
  const [local] = t.client.messagesFor("s1").filter((m) => m.local);
  assert.equal(local.displayStatus, "pending");
  t.clock.advance(30);
  t.socket.accept();
  const resubscribe = t.socket.requests("subscribe").at(-1);
  assert.deepEqual(resubscribe.payload, { session_id: "s1", after_seq: 2, limit: 15 });
  const sends = t.socket.requests("send");
  assert.equal(sends.length, 2);
  assert.equal(sends[0].payload.client_msg_id, sends[1].payload.client_msg_id);
  const mine = msg("m3", 3, { client_msg_id: sends[1].payload.client_msg_id, content: "typed before the tunnel" });
  t.socket.fire("message", { session_id: "s1", message: mine });
  t.clock.advance(20);
  t.socket.answer("subscribe", ack("resume", 3, [mine]));
  t.socket.answer("send", { ok: true, message: mine, duplicate: true });
  const shown = t.client.messagesFor("s1");
  assert.deepEqual(shown.map((m) => m.id), ["m1", "m2", "m3"]);
  assert.equal(shown[2].displayStatus, "sent");
  assert.equal(t.client.diagnostics().lastRecoveryMs, 450, "from visible again to re-synced");
  assert.equal(t.client.diagnostics().reconnects, 1);
});

test("a tab that finds its connection dead makes the other tabs probe theirs at once", () => {
  // Two tabs of one browser behind one network that went silent: the one the user comes back to
  // finds out by its probe; the other, visible but never away, would wait out the silence limit
  // (30 s) before noticing it missed the end of an answer (issue 13's second tab).
  const clock = new FakeClock();
  const hub = new FakeBroadcastHub();
  const [a, b] = [setup({ clock, channel: hub.channel() }), setup({ clock, channel: hub.channel() })];
  for (const t of [a, b]) {
    connect(t);
    t.client.follow("s1");
    t.socket.answer("subscribe", ack("recent", 2, [msg("m1", 1), msg("m2", 2)]));
  }
  const probes = () => b.socket.requests("heartbeat").length;
  const before = probes();
  a.env.hide();
  clock.advance(5000);
  a.env.show();
  clock.advance(400); // a's probe goes unanswered: a drops its zombie
  assert.equal(a.client.state, "connecting");
  hub.deliver();
  assert.equal(probes(), before + 1, "b probes its own connection as soon as a says");
  clock.advance(400);
  assert.equal(b.client.state, "connecting", "b's probe went unanswered too: b reconnects");
  clock.advance(30);
  b.socket.accept();
  assert.equal(b.socket.requests("subscribe").at(-1).payload.after_seq, 2);
  hub.deliver(); // b's own word reaches a (reconnecting already), never b itself
  assert.equal(b.client.state, "connected");
});

test("a tab's probe on the word of another tab leaves a live connection alone", () => {
  const clock = new FakeClock();
  const hub = new FakeBroadcastHub();
  const [a, b] = [setup({ clock, channel: hub.channel() }), setup({ clock, channel: hub.channel() })];
  connect(a);
  connect(b);
  a.env.hide();
  clock.advance(5000);
  a.env.show();
  clock.advance(400);
  hub.deliver();
  b.socket.answer("heartbeat", { ok: true, server_time: 2 });
  clock.advance(2000);
  assert.equal(b.client.state, "connected");
  assert.equal(b.client.diagnostics().reconnects, 0);
});

test("a wake-up race won by the fresh socket: every session resumes from last_seq on it alone, the send once", () => {
  const t = setup();
  connect(t);
  for (const id of ["s1", "s2"]) {
    t.client.follow(id);
    t.socket.answer("subscribe", ack("recent", 2, [msg(`${id}-m1`, 1), msg(`${id}-m2`, 2)]));
  }
  t.env.hide();
  t.client.send("s1", "typed before the tunnel"); // emitted into the soon-dead socket
  t.clock.freeze(5000); // frozen 5 s: above the race threshold (2.5 s), below the server's 45 s
  t.env.show();
  const fresh = t.io.sockets[1];
  assert.ok(fresh, "a fresh socket opens beside the probe");
  t.clock.advance(15);
  fresh.openEngine();
  const oldSubscribes = t.socket.requests("subscribe").length;
  fresh.accept();
  const resubscribes = fresh.requests("subscribe").map((r) => r.payload);
  assert.deepEqual(resubscribes, [
    { session_id: "s1", after_seq: 2, limit: 15 }, { session_id: "s2", after_seq: 2, limit: 15 },
  ]);
  assert.equal(t.socket.requests("subscribe").length, oldSubscribes, "nothing subscribes on the old socket");
  const [first] = t.socket.requests("send");
  const [again] = fresh.requests("send");
  assert.equal(again.payload.client_msg_id, first.payload.client_msg_id, "re-sent with the same id");
  const mine = msg("s1-m3", 3, { client_msg_id: first.payload.client_msg_id, content: "typed before the tunnel" });
  // The old socket delivers its late copy after losing: ignored; the fresh one's count.
  t.socket.fire("message", { session_id: "s1", message: msg("s1-m9", 9) });
  fresh.answer("subscribe", ack("resume", 2, []));
  fresh.answer("subscribe", ack("resume", 3, [mine]));
  fresh.answer("send", { ok: true, message: mine, duplicate: true });
  fresh.fire("message", { session_id: "s1", message: mine });
  assert.deepEqual(t.client.messagesFor("s1").map((m) => m.id), ["s1-m1", "s1-m2", "s1-m3"]);
  assert.deepEqual(t.client.messagesFor("s2").map((m) => m.id), ["s2-m1", "s2-m2"]);
  assert.equal(t.client.messagesFor("s1")[2].displayStatus, "sent");
  assert.equal(t.client.diagnostics().lastRecoveryMs, 15, "from visible again to re-synced");
});

test("a reload resumes: followed sessions, their views and pending messages come back", () => {
  const t = setup();
  connect(t);
  t.client.follow("s1");
  t.socket.answer("subscribe", ack("recent", 1, [msg("m1", 1)]));
  t.socket.close();
  t.client.send("s1", "pending across the reload");
  t.clock.advance(300);
  t.client.stop();
  const again = setup({ tabStorage: t.tabStorage, sharedStorage: t.sharedStorage });
  assert.deepEqual(again.client.messagesFor("s1").map((m) => m.content), ["text of m1", "pending across the reload"]);
  connect(again);
  assert.equal(again.socket.requests("subscribe")[0].payload.after_seq, 1);
  assert.equal(again.socket.requests("send")[0].payload.content, "pending across the reload");
});

test("session events update the list live; a kicked tab takes a new client_id", () => {
  const t = setup();
  connect(t);
  const session = { id: "s9", title: "Plans", agent: "echo", head_seq: 0, running: false, archived: false, created_at: "2024", updated_at: "2024-01-02" };
  t.socket.fire("session", { session });
  assert.equal(t.client.sessions.ordered()[0].title, "Plans");
  t.socket.fire("session", { session: { ...session, title: "Renamed", updated_at: "2024-01-03" } });
  assert.equal(t.client.sessions.get("s9").title, "Renamed");
  const before = t.client.clientId;
  t.socket.close("io server disconnect");
  assert.notEqual(t.client.clientId, before);
});

test("hello's ping settings are the ones the connection uses (not Engine.IO's private fields)", () => {
  const t = setup();
  connect(t);
  t.socket.fire("hello", { protocol: 1, limits: { max_message_chars: 10, ping_interval: 3000, ping_timeout: 2000 } });
  const d = t.client.diagnostics();
  assert.deepEqual([d.pingInterval, d.pingTimeout, d.serverTimeout, d.silenceLimit], [3000, 2000, 5000, 4000]);
  t.env.hide();
  t.clock.freeze(6000);
  const attempts = t.socket.attempts;
  t.env.show();
  assert.equal(t.socket.attempts, attempts + 1, "away 6 s > 3 s + 2 s: reconnected without a probe");
});

test("a message in flight when the transport drops leaves no outbox retry timer: the next connect sends it", () => {
  const t = setup();
  connect(t);
  t.client.send("s1", "in flight");
  t.socket.close("transport close");
  assert.equal(t.client.outbox.retryTimer.pending, false, "no retry scheduled as if still connected");
  assert.equal(t.client.outbox.entries[0].state, "pending");
  t.clock.advance(250);
  t.socket.accept();
  assert.equal(t.socket.requests("send").length, 2, "re-sent once, on connect");
});

test("the view-model holds what the app renders", () => {
  const t = setup();
  assert.equal(t.client.view(null).state, "connecting");
  assert.equal(t.client.view(null).agents, null, "no agents before the server's hello");
  connect(t);
  t.socket.fire("hello", { protocol: 1, limits: {}, agents: [{ name: "echo", kind: "echo" }], default_agent: "echo" });
  assert.deepEqual([t.client.view(null).agents, t.client.view(null).defaultAgent], [[{ name: "echo", kind: "echo" }], "echo"]);
  t.client.follow("s1");
  t.socket.answer("subscribe", ack("recent", 1, [msg("m1", 1)]));
  t.socket.close();
  t.client.send("s1", "queued");
  const view = t.client.view("s1");
  assert.equal(view.state, "connecting");
  assert.equal(view.pendingCount, 1);
  assert.equal(view.unauthorized, false);
  assert.deepEqual(view.messages.map((m) => [m.content, m.displayStatus]), [["text of m1", "sent"], ["queued", "pending"]]);
  assert.equal(view.hasOlder, false);
  assert.equal(view.streaming, false);
  t.clock.advance(250);
  t.socket.refuse("unauthorized");
  assert.equal(t.client.view("s1").unauthorized, true);
});

test("Stop on a zombie: the probe beside it drops the socket, and the cancel is sent again on the new one", async () => {
  const t = setup();
  connect(t);
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  t.clock.advance(30_000); // a quiet link: a phone's network went away without a word
  const asked = t.clock.now();
  const stopped = t.client.cancel("s1");
  assert.equal(t.socket.requests("cancel").length, 1);
  t.clock.advance(400); // the probe sent with it times out: the zombie is dropped
  assert.equal(t.client.state, "connecting");
  await flush();
  t.clock.advance(30);
  t.socket.accept();
  t.socket.answer("heartbeat", { ok: true, server_time: 2 });
  for (let waited = 0; t.socket.requests("cancel").length < 2 && waited < 5000; waited += 50) {
    t.clock.advance(50); // the retry policy's first delay
    await flush();
  }
  const sent = t.socket.requests("cancel");
  assert.equal(sent.length, 2, "the Stop went again on the new connection");
  assert.deepEqual(sent[1].payload, { session_id: "s1" });
  t.socket.answer("cancel", { ok: true, cancelled: true });
  assert.equal(await stopped, true);
  assert.ok(t.clock.now() - asked < 2000, "well before the request's own 10 s timeout");
});

async function stopOnAZombie(t, resumed) {
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  connect(t);
  t.client.follow("s1");
  t.socket.answer("subscribe", ack("recent", 2, [msg("m1", 1), streaming("a2", 2, "half", 1)]));
  t.clock.advance(30_000); // the network went away without a word
  const stopped = t.client.cancel("s1");
  t.clock.advance(400); // the probe beside it times out: the zombie is dropped
  await flush();
  t.clock.advance(30);
  t.socket.accept();
  t.socket.answer("heartbeat", { ok: true, server_time: 2 });
  t.socket.answer("subscribe", ack("resume", resumed.at(-1).seq, resumed));
  for (let waited = 0; waited < 3000; waited += 50) {
    t.clock.advance(50);
    await flush();
  }
  return { stopped }; // in an object: awaiting this function must not wait for the cancel
}

test("Stop on a zombie is sent again while the answer it was pressed for still streams", async () => {
  const t = setup();
  const { stopped } = await stopOnAZombie(t, [streaming("a2", 2, "half and more", 2)]);
  assert.equal(t.socket.requests("cancel").length, 2, "sent again on the new connection");
  t.socket.answer("cancel", { ok: true, cancelled: true });
  assert.equal(await stopped, true);
});

test("Stop on a zombie is not sent again once that answer ended and another one streams", async () => {
  const t = setup();
  // Meanwhile a2 completed on its own and the next question's answer a4 started: a second
  // cancel of the session would stop a4, which nobody asked to stop.
  const resumed = [msg("a2", 3, { role: "assistant", position: 2 }), msg("m3", 4, { position: 3 }),
                   streaming("a4", 5, "new", 1, { position: 4 })];
  const { stopped } = await stopOnAZombie(t, resumed);
  assert.equal(await stopped, false);
  assert.equal(t.socket.requests("cancel").length, 1, "only the Stop sent into the dead socket");
});
