import assert from "node:assert/strict";
import { test } from "node:test";

import { Heartbeat } from "../../src/tether/static/js/client/heartbeat.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { FakeClock, FakeConnection } from "./support/fakes.mjs";

function setup() {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  const dead = [];
  const rtts = [];
  const heartbeat = new Heartbeat({
    push: (...args) => connection.push(...args), timers: clock,
    onTimeout: (reason, startedAt) => dead.push({ reason, startedAt }), onRtt: (rtt) => rtts.push(rtt),
  });
  return { clock, connection, heartbeat, dead, rtts };
}

test("an answered probe measures the round trip and smooths it", () => {
  const { clock, connection, heartbeat, rtts } = setup();
  heartbeat.probe("test");
  clock.advance(100);
  connection.answer("heartbeat", { ok: true, server_time: 1 });
  heartbeat.probe("again");
  clock.advance(50);
  connection.answer("heartbeat", { ok: true, server_time: 2 });
  assert.deepEqual(rtts, [100, 50]);
  assert.equal(heartbeat.rttMs, 50);
  assert.equal(heartbeat.srtt, 90, "0.8 * 100 + 0.2 * 50");
});

test("the timeout is 4 round trips + 250 ms, between 400 ms and 1.5 s; 1.5 s before any", () => {
  const { clock, connection, heartbeat } = setup();
  assert.equal(heartbeat.timeout, 1500);
  heartbeat.probe("fast");
  clock.advance(5);
  connection.answer("heartbeat", { ok: true });
  assert.equal(heartbeat.timeout, 400);
  heartbeat.srtt = 200;
  assert.equal(heartbeat.timeout, 1050);
  heartbeat.srtt = 900;
  assert.equal(heartbeat.timeout, 1500);
});

test("one probe at a time; no answer in time reports the socket dead, with the probe's start", () => {
  const { clock, connection, heartbeat, dead } = setup();
  clock.advance(7);
  const startedAt = clock.now();
  heartbeat.probe("wake");
  heartbeat.probe("wake again");
  assert.equal(connection.requests("heartbeat").length, 1);
  clock.advance(1499);
  assert.deepEqual(dead, []);
  clock.advance(1);
  assert.deepEqual(dead, [{ reason: "heartbeat timed out after 1500ms (wake)", startedAt }]);
  heartbeat.probe("next");
  assert.equal(connection.requests("heartbeat").length, 2, "a new probe after the timeout");
});

test("an error answer proves the server is there; a cancelled probe reports nothing", () => {
  const { clock, connection, heartbeat, dead } = setup();
  heartbeat.probe("a");
  connection.answer("heartbeat", { ok: false, error: { code: "rate_limited", message: "slow" } });
  heartbeat.probe("b");
  heartbeat.cancel();
  clock.advance(5000);
  assert.deepEqual(dead, [], "the cancelled probe's timeout belongs to a socket already gone");
  heartbeat.probe("c");
  assert.equal(connection.requests("heartbeat").length, 3);
});

test("any answer from the server is a proof of life; a request failed on this side is not", () => {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  let alive = 0;
  const heartbeat = new Heartbeat({
    push: (...args) => connection.push(...args), timers: clock, onTimeout: () => {},
    onAnswer: () => { alive += 1; },
  });
  heartbeat.probe("ok");
  connection.answer("heartbeat", { ok: true, server_time: 1 });
  heartbeat.probe("error");
  connection.answer("heartbeat", { ok: false, error: { code: "rate_limited", message: "slow down" } });
  assert.equal(alive, 2);
  connection.connected = false;
  heartbeat.probe("not connected");
  assert.equal(alive, 2, "failed locally: nothing was heard");
});
