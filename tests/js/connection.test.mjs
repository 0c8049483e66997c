import assert from "node:assert/strict";
import { test } from "node:test";

import { Connection, STATES } from "../../src/tether/static/js/client/connection.js";
import { FakeClock, FakeEnv, fakeIo } from "./support/fakes.mjs";

function setup(options = {}) {
  const clock = new FakeClock();
  const env = new FakeEnv();
  const io = fakeIo();
  const lines = [];
  const conn = new Connection({
    url: "http://127.0.0.1:1",
    io,
    auth: () => ({ client_id: "tab-1" }),
    env,
    timers: clock,
    random: () => 0.999999,
    log: (level, msg) => lines.push(`${level} ${msg}`),
    options,
  });
  const states = [];
  conn.on("state", (change) => states.push(change.to));
  conn.start();
  const socket = io.sockets[0];
  return { clock, env, io, conn, socket, states, lines };
}

/** Connect and answer the first heartbeat, so the connection has a round-trip estimate. */
function connectAndMeasure(t, rtt = 5) {
  t.socket.accept();
  t.clock.advance(rtt);
  t.socket.answer("heartbeat", { ok: true, server_time: 1 });
}

test("socket.io-client's own reconnection is off and the auth is read at each attempt", () => {
  const { socket } = setup();
  assert.equal(socket.options.reconnection, false);
  assert.deepEqual(socket.options.transports, ["websocket", "polling"]);
  let auth = null;
  socket.options.auth((value) => { auth = value; });
  assert.deepEqual(auth, { client_id: "tab-1" });
});

test("connecting, then connected, with the time of each change", () => {
  const t = setup();
  assert.equal(t.conn.state, STATES.CONNECTING);
  t.clock.advance(30);
  t.socket.accept();
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(t.conn.since, t.clock.now());
  assert.deepEqual(t.states, ["connecting", "connected"]);
  assert.equal(t.conn.transitions.at(-1).reason, "connected");
});

test("a lost transport is retried with backoff, forever, and never gives up", () => {
  const t = setup();
  t.socket.accept();
  t.socket.close("transport close");
  assert.equal(t.conn.state, STATES.CONNECTING);
  let attempts = t.socket.attempts;
  for (let i = 0; i < 50; i++) {
    t.clock.advance(5000);
    assert.equal(t.socket.attempts, attempts + 1, `attempt ${i} happened`);
    attempts = t.socket.attempts;
    t.socket.refuse("xhr poll error");
  }
  assert.equal(t.conn.state, STATES.OFFLINE, "offline after repeated failures, still trying");
  t.clock.advance(5000);
  t.socket.accept();
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(t.conn.stats.reconnects, 1);
});

test("zombie: on visible again, a heartbeat without answer drops the socket and reconnects at once", () => {
  const t = setup();
  connectAndMeasure(t);
  t.env.hide();
  t.clock.advance(2000); // away 2 s: below the wake-up race's threshold (wakerace.test.mjs)
  t.env.show();
  const probe = t.socket.requests("heartbeat").at(-1);
  assert.ok(!probe.answered, "a heartbeat probe was sent on wake");
  assert.equal(t.conn.state, STATES.CONNECTED, "it still believes it is connected");
  const attempts = t.socket.attempts;
  t.clock.advance(400); // adaptive timeout: 4 * rtt + 250, at least 400 ms
  assert.equal(t.socket.attempts, attempts + 1, "a new connection started at once");
  assert.equal(t.conn.state, STATES.CONNECTING);
  assert.equal(t.conn.stats.zombies, 1);
  t.clock.advance(20);
  t.socket.accept();
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(t.conn.stats.lastConnectMs, 420, "recovery counted from the wake-up");
});

test("Stop on a zombie: a request on a quiet link goes with a probe, which finds it dead in 400 ms", () => {
  const t = setup();
  connectAndMeasure(t);
  t.clock.advance(30_000); // nothing received for 30 s (the fake server sends no pings)
  const attempts = t.socket.attempts;
  const probes = t.socket.requests("heartbeat").length;
  const outcomes = [];
  t.conn.push("cancel", { session_id: "s1" }).receive("timeout", () => outcomes.push(t.clock.now()));
  assert.equal(t.socket.requests("heartbeat").length, probes + 1, "a probe went beside the request");
  const sent = t.clock.now();
  t.clock.advance(400); // the probe's adaptive timeout (4 * rtt + 250, at least 400 ms)
  assert.equal(t.socket.attempts, attempts + 1, "the zombie was dropped and a new connection started");
  assert.deepEqual(outcomes, [sent + 400], "the request ended with its socket, not 10 s later");
  assert.equal(t.conn.stats.zombies, 1);
});

test("a request on a link that just received something goes without a probe", () => {
  const t = setup();
  connectAndMeasure(t);
  t.clock.advance(1500); // below probeQuietAfter (2 s)
  const probes = t.socket.requests("heartbeat").length;
  t.conn.push("cancel", { session_id: "s1" });
  assert.equal(t.socket.requests("heartbeat").length, probes);
  t.clock.advance(5000);
  t.socket.answer("cancel", { ok: true, cancelled: true });
  t.conn.push("list_sessions", {}); // answered 0 ms ago
  assert.equal(t.socket.requests("heartbeat").length, probes);
});

test("a live connection answers the probe and is kept", () => {
  const t = setup();
  connectAndMeasure(t);
  t.env.fire("focus");
  const attempts = t.socket.attempts;
  t.clock.advance(3);
  t.socket.answer("heartbeat", { ok: true, server_time: 2 });
  t.clock.advance(5000);
  assert.equal(t.socket.attempts, attempts);
  assert.equal(t.conn.state, STATES.CONNECTED);
  assert.equal(t.conn.stats.rttMs, 3);
});

test("the probe timeout is capped at 1.5 s for a slow link", () => {
  const t = setup();
  t.socket.accept();
  t.clock.advance(900);
  t.socket.answer("heartbeat", { ok: true, server_time: 1 });
  t.env.fire("pageshow");
  const attempts = t.socket.attempts;
  t.clock.advance(1499);
  assert.equal(t.socket.attempts, attempts);
  t.clock.advance(1);
  assert.equal(t.socket.attempts, attempts + 1);
});

test("away longer than the server's ping interval + timeout: reconnect without probing", () => {
  const t = setup();
  connectAndMeasure(t);
  t.env.hide();
  t.clock.freeze(46_000);
  const attempts = t.socket.attempts;
  t.env.show();
  assert.equal(t.socket.attempts, attempts + 1);
  assert.equal(t.conn.state, STATES.CONNECTING);
});

test("every wake-up signal while disconnected connects at once with the backoff reset", () => {
  for (const signal of ["visibilitychange", "pageshow", "focus", "online", "resume"]) {
    const t = setup();
    t.socket.accept();
    t.socket.close();
    for (let i = 0; i < 6; i++) {
      t.clock.advance(5000);
      t.socket.refuse("timeout");
    }
    const attempts = t.socket.attempts;
    t.env.fire(signal);
    assert.equal(t.socket.attempts, attempts + 1, `${signal} connects at once`);
    assert.equal(t.conn.retry.tries, 0, `${signal} resets the backoff`);
    t.socket.refuse("timeout");
    t.clock.advance(250);
    assert.equal(t.socket.attempts, attempts + 2, `${signal}: the next retry waits the shortest delay`);
  }
});

test("a frozen page is noticed by the watchdog's late tick even without any event", () => {
  const t = setup();
  connectAndMeasure(t);
  t.clock.freeze(10_000);
  t.clock.advance(1);
  const probe = t.socket.requests("heartbeat").at(-1);
  assert.ok(!probe.answered, "the late tick probed the connection");
});

test("the watchdog probes a connection silent too long while visible", () => {
  const t = setup({ silenceLimit: 10_000 });
  connectAndMeasure(t);
  const before = t.socket.requests("heartbeat").length;
  t.clock.advance(9_000);
  assert.equal(t.socket.requests("heartbeat").length, before);
  t.clock.advance(4_000);
  assert.equal(t.socket.requests("heartbeat").length, before + 1);
  // pings from the server count as life
  t.socket.answer("heartbeat", { ok: true, server_time: 1 });
  for (let i = 0; i < 10; i++) {
    t.socket.managerHandlers.get("ping")();
    t.clock.advance(2_000);
  }
  assert.equal(t.socket.requests("heartbeat").length, before + 1);
});

test("requests fail at once with unavailable while disconnected, and in-flight ones time out on disconnect", () => {
  const t = setup();
  const early = t.conn.push("list_sessions", {});
  assert.equal(early.outcome.status, "error");
  assert.equal(early.outcome.response.code, "unavailable");
  assert.equal(t.socket.requests("list_sessions").length, 0, "nothing buffered in socket.io");
  t.socket.accept();
  const inflight = t.conn.push("send", { content: "x" });
  t.socket.close();
  assert.equal(inflight.outcome.status, "timeout");
});

test("unauthorized stops retrying until the auth changes", () => {
  const t = setup();
  let told = false;
  t.conn.on("unauthorized", () => { told = true; });
  t.socket.refuse("unauthorized");
  assert.ok(told);
  assert.equal(t.conn.state, STATES.OFFLINE);
  const attempts = t.socket.attempts;
  t.clock.advance(60_000);
  t.env.fire("focus");
  assert.equal(t.socket.attempts, attempts);
  t.conn.reauthenticate();
  assert.equal(t.socket.attempts, attempts + 1);
});

test("kicked by the server (our client_id taken by another tab) is reported and retried", () => {
  const t = setup();
  t.socket.accept();
  let kicked = false;
  t.conn.on("kicked", () => { kicked = true; });
  t.socket.close("io server disconnect");
  assert.ok(kicked);
  const attempts = t.socket.attempts;
  t.clock.advance(250);
  assert.equal(t.socket.attempts, attempts + 1);
});

test("server events are forwarded, stop() ends everything", () => {
  const t = setup();
  t.socket.accept();
  const seen = [];
  t.conn.on("event", (name, payload) => seen.push([name, payload]));
  t.socket.fire("message", { session_id: "s" });
  assert.deepEqual(seen, [["message", { session_id: "s" }]]);
  t.conn.stop();
  assert.equal(t.conn.state, STATES.OFFLINE);
  t.clock.advance(60_000);
  t.env.show();
  assert.equal(t.socket.connected, false);
});

test("in-flight requests fail after the state has left connected, so no caller retries as if connected", () => {
  const t = setup();
  connectAndMeasure(t);
  const seen = [];
  const push = t.conn.push("send", { content: "x" });
  push.receive("timeout", () => seen.push({ connected: t.conn.connected, state: t.conn.state }));
  t.socket.close("transport close");
  assert.deepEqual(seen, [{ connected: false, state: STATES.CONNECTING }]);
});

test("stop() fails in-flight requests as disconnected too", () => {
  const t = setup();
  connectAndMeasure(t);
  const seen = [];
  t.conn.push("send", { content: "x" }).receive("timeout", () => seen.push(t.conn.connected));
  t.conn.stop();
  assert.deepEqual(seen, [false]);
});

test("the server's ping settings decide when an absence means the server has dropped us", () => {
  const t = setup();
  connectAndMeasure(t);
  assert.equal(t.conn.ping.serverTimeout, 45_000, "Engine.IO's defaults until the server says");
  assert.ok(t.conn.ping.set({ ping_interval: 2000, ping_timeout: 1000 }));
  assert.equal(t.conn.ping.serverTimeout, 3000);
  t.env.hide();
  t.clock.freeze(3500);
  const attempts = t.socket.attempts;
  const heartbeats = t.socket.requests("heartbeat").length;
  t.env.show();
  assert.equal(t.socket.attempts, attempts + 1, "away 3.5 s > 2 s + 1 s: a new connection at once");
  assert.equal(t.socket.requests("heartbeat").length, heartbeats, "no probe first");
});

test("the server's ping interval sets the silence that makes the watchdog probe", () => {
  const t = setup();
  connectAndMeasure(t);
  t.conn.ping.set({ ping_interval: 2000, ping_timeout: 1000 });
  assert.equal(t.conn.liveness.silenceLimit, 2500, "interval + half the timeout");
  const before = t.socket.requests("heartbeat").length;
  t.clock.advance(2000);
  assert.equal(t.socket.requests("heartbeat").length, before, "2 s of silence is a ping's gap");
  t.clock.advance(2000);
  assert.equal(t.socket.requests("heartbeat").length, before + 1, "4 s is not");
});

test("ping settings that are not positive numbers are ignored", () => {
  const t = setup();
  for (const limits of [undefined, {}, { ping_interval: 0, ping_timeout: 5 }, { ping_interval: "2", ping_timeout: 1 }]) {
    assert.equal(t.conn.ping.set(limits), false);
  }
  assert.equal(t.conn.ping.pingInterval, 25_000);
});

test("an attempt that never ends is restarted by the watchdog; a young one is given its chance", () => {
  const t = setup();
  const attempts = t.socket.attempts;
  t.clock.advance(500);
  t.env.fire("focus");
  assert.equal(t.socket.attempts, attempts, "an attempt younger than 1 s is not restarted on wake-up");
  t.clock.advance(9000);
  assert.equal(t.socket.attempts, attempts, "8 s connect timeout + 2 s not over yet");
  t.clock.advance(2500); // the first watchdog tick past 10 s of attempt
  assert.equal(t.socket.attempts, attempts + 1, "stuck: a fresh attempt");
  assert.ok(t.lines.some((line) => line.includes("attempt stuck")));
  t.clock.advance(1500);
  t.env.fire("focus");
  assert.equal(t.socket.attempts, attempts + 2, "an attempt older than 1 s is restarted on wake-up");
});
