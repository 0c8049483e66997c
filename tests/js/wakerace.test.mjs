// The wake-up race (connection.js): after an absence long enough for a phone to have cut the
// socket, a fresh connection opens beside the heartbeat probe and the first proof of life wins.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Connection, STATES } from "../../src/tether/static/js/client/connection.js";
import { FakeClock, FakeEnv, fakeIo } from "./support/fakes.mjs";

function setup() {
  const clock = new FakeClock();
  const env = new FakeEnv();
  const io = fakeIo();
  const conn = new Connection({
    url: "http://127.0.0.1:1", io, auth: () => ({ client_id: "tab-1" }), env, timers: clock,
    random: () => 0.999999,
  });
  const seen = { events: [], disconnects: 0, connects: [] };
  conn.on("event", (name) => seen.events.push(name));
  conn.on("disconnect", () => { seen.disconnects += 1; });
  conn.on("connect", (connect) => seen.connects.push(connect));
  conn.start();
  const old = io.sockets[0];
  old.accept();
  clock.advance(5);
  old.answer("heartbeat", { ok: true, server_time: 1 }); // srtt 5 ms: probe timeout 400 ms
  return { clock, env, io, conn, old, seen };
}

/** Hidden for `ms` (timers frozen, as on a phone), then visible again. */
function awayFor(t, ms) {
  t.env.hide();
  t.clock.freeze(ms);
  t.env.show();
}

const unansweredProbe = (socket) => socket.requests("heartbeat").filter((r) => !r.answered);

test("the race threshold follows the server's ping interval: a tenth of it, within 1-5 s", () => {
  const t = setup();
  assert.equal(t.conn.ping.raceAfter, 2500, "Engine.IO's defaults: 25 s / 10");
  t.conn.ping.set({ ping_interval: 2000, ping_timeout: 2000 });
  assert.equal(t.conn.ping.raceAfter, 1000);
  t.conn.ping.set({ ping_interval: 120_000, ping_timeout: 20_000 });
  assert.equal(t.conn.ping.raceAfter, 5000);
});

test("a short absence (a tab switch) only probes: no fresh connection", () => {
  const t = setup();
  awayFor(t, 2000);
  assert.equal(t.io.sockets.length, 1);
  assert.equal(unansweredProbe(t.old).length, 1);
});

test("after 5 s away a fresh transport opens beside the probe, without joining yet", () => {
  const t = setup();
  awayFor(t, 5000);
  assert.equal(t.io.sockets.length, 2, "a spare socket");
  const spare = t.io.sockets[1];
  assert.equal(spare.engineOpens.length, 1, "its transport is opening");
  assert.equal(spare.attempts, 0, "no Socket.IO CONNECT: the server sees no takeover yet");
  assert.equal(unansweredProbe(t.old).length, 1, "the probe is on its way");
  assert.equal(t.conn.state, STATES.CONNECTED);
  t.env.fire("focus"); // coming back fires several signals: still one race
  t.env.fire("pageshow");
  assert.equal(t.io.sockets.length, 2);
});

test("the fresh transport opens first: it replaces the old socket, whose events are no longer heard", () => {
  const t = setup();
  const send = t.conn.push("send", { content: "x" });
  const closes = t.old.disconnects;
  awayFor(t, 5000);
  const spare = t.io.sockets[1];
  t.clock.advance(20);
  spare.openEngine();
  assert.equal(t.conn.state, STATES.CONNECTING);
  assert.equal(t.old.disconnects, closes + 1, "the old socket is closed");
  assert.equal(send.outcome.status, "timeout", "its request in flight fails, to be sent again");
  assert.equal(t.seen.disconnects, 1, "followers hear of the disconnect once");
  assert.equal(spare.attempts, 1, "the spare joins now");
  t.old.fire("message", { session_id: "s" });
  assert.deepEqual(t.seen.events, [], "a late event of the old socket is ignored");
  t.clock.advance(10);
  spare.accept();
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(t.conn.stats.lastConnectMs, 30, "recovery counted from the wake-up");
  assert.equal(t.seen.connects.length, 2, "one connect for the new link: one subscribe round");
  assert.equal(t.conn.stats.races.fresh, 1);
  spare.fire("message", { session_id: "s" });
  assert.deepEqual(t.seen.events, ["message"]);
  t.clock.advance(1000);
  assert.equal(t.old.attempts, 1, "the old socket is never reconnected");
  assert.equal(t.io.sockets.length, 2);
});

test("a race won by the fresh connection tells the other tabs, as a dropped zombie does", () => {
  const t = setup();
  const zombies = [];
  t.conn.on("zombie", ({ reason }) => zombies.push(reason));
  awayFor(t, 5000);
  t.io.sockets[1].openEngine();
  assert.equal(zombies.length, 1);
  const other = setup();
  const told = [];
  other.conn.on("zombie", ({ reason }) => told.push(reason));
  awayFor(other, 5000);
  other.clock.advance(400); // the probe timed out before the spare opened: told once as well
  other.io.sockets[1].openEngine();
  assert.equal(told.length, 1);
});

test("the probe is answered first: the old socket stays and the spare closes without joining", () => {
  const t = setup();
  const closes = t.old.disconnects;
  awayFor(t, 5000);
  const spare = t.io.sockets[1];
  t.clock.advance(3);
  t.old.answer("heartbeat", { ok: true, server_time: 2 });
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(spare.disconnects, 1, "the spare is closed");
  assert.equal(t.conn.stats.races.kept, 1);
  spare.openEngine(); // its transport opening late changes nothing
  assert.equal(spare.attempts, 0, "the spare never joined");
  assert.equal(t.old.disconnects, closes);
  assert.equal(t.seen.disconnects, 0);
  assert.equal(t.conn.stats.races.fresh, 0);
});

test("an error answer to the probe is life too", () => {
  const t = setup();
  awayFor(t, 5000);
  t.old.answer("heartbeat", { ok: false, error: { code: "rate_limited", message: "slow down" } });
  assert.equal(t.io.sockets[1].disconnects, 1);
  assert.equal(t.conn.state, STATES.CONNECTED);
});

test("the probe times out while the spare still opens: the spare is the link, the old one is not restarted", () => {
  const t = setup();
  awayFor(t, 5000);
  const spare = t.io.sockets[1];
  t.clock.advance(400);
  assert.equal(t.conn.state, STATES.CONNECTING);
  assert.equal(t.old.attempts, 1, "no restart of the dead socket");
  assert.equal(spare.attempts, 1, "the spare joins (over the transport still opening)");
  spare.openEngine();
  spare.accept();
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(t.conn.stats.zombies, 1);
});

test("the old socket closes during the race: the spare takes over, no retry is scheduled", () => {
  const t = setup();
  awayFor(t, 5000);
  const spare = t.io.sockets[1];
  t.old.close("transport close");
  assert.equal(t.conn.retry.pending, false);
  assert.equal(spare.attempts, 1);
  assert.equal(t.seen.disconnects, 1);
  t.clock.advance(10_000);
  assert.equal(t.old.attempts, 1);
});

test("the spare fails: the probe decides as without a race", () => {
  const t = setup();
  awayFor(t, 5000);
  const spare = t.io.sockets[1];
  spare.openEngine(new Error("websocket error"));
  assert.equal(t.conn.state, STATES.CONNECTED);
  t.clock.advance(400);
  assert.equal(t.old.attempts, 2, "probe unanswered: the old socket is rebuilt at once");
  assert.equal(spare.attempts, 0);
});

test("beyond the server's timeout there is no race: a new connection at once", () => {
  const t = setup();
  awayFor(t, 46_000);
  assert.equal(t.io.sockets.length, 1);
  assert.equal(t.old.attempts, 2);
});

test("stop() during the race closes the spare", () => {
  const t = setup();
  awayFor(t, 5000);
  t.conn.stop();
  const spare = t.io.sockets[1];
  assert.equal(spare.disconnects, 1);
  spare.openEngine();
  assert.equal(spare.attempts, 0);
  assert.equal(t.conn.state, STATES.OFFLINE);
});

test("after a race the next long absence races again, on the new link", () => {
  const t = setup();
  awayFor(t, 5000);
  t.io.sockets[1].openEngine();
  t.io.sockets[1].accept();
  t.clock.advance(5);
  t.io.sockets[1].answer("heartbeat", { ok: true, server_time: 3 });
  awayFor(t, 6000);
  assert.equal(t.io.sockets.length, 3);
  assert.equal(unansweredProbe(t.io.sockets[1]).length, 1);
});
