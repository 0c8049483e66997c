import assert from "node:assert/strict";
import { test } from "node:test";

import { Liveness } from "../../src/tether/static/js/client/liveness.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { FakeClock, FakeConnection, FakeEnv } from "./support/fakes.mjs";

function setup(options = {}) {
  const clock = new FakeClock();
  const env = new FakeEnv();
  const connection = new FakeConnection(clock, Push);
  const seen = { wakes: [], dead: [], ticks: 0, offline: 0 };
  let lastReceivedAt = clock.now();
  const liveness = new Liveness({
    env, timers: clock, options, push: (...args) => connection.push(...args),
    connected: () => connection.connected, lastReceivedAt: () => lastReceivedAt,
    onWake: (signal) => seen.wakes.push(signal), onDead: (reason) => seen.dead.push(reason),
    onTick: () => { seen.ticks += 1; }, onOffline: () => { seen.offline += 1; },
  });
  liveness.start();
  return { clock, env, connection, liveness, seen, touch: () => { lastReceivedAt = clock.now(); } };
}

test("a wake-up within the server's tolerance probes; beyond it the socket is dead at once", () => {
  const t = setup();
  t.liveness.ping.set({ ping_interval: 2000, ping_timeout: 1000 });
  t.liveness.check("focus", 2999, t.clock.now());
  assert.equal(t.connection.requests("heartbeat").length, 1);
  assert.deepEqual(t.seen.dead, []);
  t.liveness.check("focus", 3001, t.clock.now());
  assert.deepEqual(t.seen.dead, ["away 3001ms > server timeout"]);
});

test("silence beyond the limit while visible probes; while hidden or disconnected it does not", () => {
  const t = setup();
  t.liveness.ping.set({ ping_interval: 2000, ping_timeout: 1000 });
  t.clock.advance(2000);
  assert.equal(t.connection.requests("heartbeat").length, 0, "2 s of silence: a ping's gap");
  t.env.isVisible = false;
  t.clock.advance(2000);
  assert.equal(t.connection.requests("heartbeat").length, 0, "hidden: no probe");
  t.env.isVisible = true;
  t.clock.advance(2000);
  assert.equal(t.connection.requests("heartbeat").length, 1, "visible and silent 6 s: probe");
  t.clock.advance(1500);
  assert.equal(t.seen.dead.length, 1, "unanswered: dead");
  t.touch();
  t.connection.connected = false;
  const ticks = t.seen.ticks;
  t.clock.advance(10_000);
  assert.ok(t.seen.ticks > ticks, "ticks without a probe go to the connection");
});

test("an option overrides the silence limit; frozen timers are a wake-up with an absence", () => {
  const t = setup({ silenceLimit: 10_000 });
  assert.equal(t.liveness.silenceLimit, 10_000);
  t.clock.freeze(9000);
  t.clock.advance(1);
  assert.deepEqual(t.seen.wakes, ["timer-gap"]);
  assert.ok(t.liveness.takeAway(t.clock.now()) >= 7000);
  t.env.fire("offline");
  assert.equal(t.seen.offline, 1);
  t.liveness.stop();
  t.env.fire("focus");
  assert.deepEqual(t.seen.wakes, ["timer-gap"]);
});
