// The reconnect schedule (reconnect.js): when the Connection's next attempt starts, over the one
// retry policy (retry.js) and the connection's states (connstate.js), with a fake clock.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConnectMeter } from "../../src/tether/static/js/client/connmeter.js";
import { connectionMachine, STATES } from "../../src/tether/static/js/client/connstate.js";
import { Reconnect } from "../../src/tether/static/js/client/reconnect.js";
import { retryDelay } from "../../src/tether/static/js/client/retry.js";
import { FakeClock } from "./support/fakes.mjs";

/** A schedule whose attempts are recorded; `t.attemptAt` when the link's attempt began (or null). */
function setup({ online = true, random = () => 0.5 } = {}) {
  const clock = new FakeClock();
  const t = { clock, attempts: [], attemptAt: null, stopped: false, unauthorized: false, online };
  t.machine = connectionMachine({ timers: clock, onChange: () => {} });
  t.meter = new ConnectMeter({ fresh: 0, kept: 0 });
  t.reconnect = new Reconnect({
    machine: t.machine, meter: t.meter, env: { online: () => t.online }, timers: clock, random,
    options: { connectTimeout: 8000, offlineAfterFailures: 3 },
    stopped: () => t.stopped, unauthorized: () => t.unauthorized,
    attemptAge: (now) => (t.attemptAt === null ? null : now - t.attemptAt),
    attempt: (reason) => { t.attempts.push(reason); t.attemptAt = clock.now(); },
  });
  return t;
}

test("an attempt now: connecting (offline when the browser says so), a recovery begins, no wait left", () => {
  const t = setup();
  t.reconnect.later("connect_error");
  assert.equal(t.reconnect.timer.pending, true);
  t.reconnect.now("start");
  assert.deepEqual(t.attempts, ["start"]);
  assert.equal(t.machine.state, STATES.CONNECTING);
  assert.equal(t.meter.startedAt, t.clock.now());
  assert.equal(t.reconnect.dueAt, null, "the wait is cancelled");
  t.online = false;
  t.reconnect.now("again");
  assert.equal(t.machine.state, STATES.OFFLINE);
  t.stopped = true;
  t.reconnect.now("stopped");
  assert.equal(t.attempts.length, 2, "no attempt once stopped");
});

test("retries wait by the one policy, growing, forever; one wait at a time", () => {
  const t = setup({ random: () => 0.999999 });
  const delays = [];
  for (let tries = 0; tries < 8; tries += 1) {
    t.reconnect.later("connect_error");
    t.reconnect.later("a second reason while waiting"); // ignored: a wait is pending
    delays.push(t.reconnect.dueAt - t.clock.now());
    t.clock.advance(delays.at(-1));
  }
  assert.deepEqual(delays, [0, 1, 2, 3, 4, 5, 6, 7].map((tries) => retryDelay(tries, () => 0.999999)));
  assert.equal(delays.at(-1), 5000, "capped at the policy's max");
  assert.equal(t.attempts.length, 8);
  assert.ok(t.attempts.every((reason) => reason === "retry"));
});

test("waiting is connecting, offline after offlineAfterFailures failures in a row or when the browser is offline", () => {
  const t = setup();
  t.reconnect.now("start");
  t.meter.failed();
  t.meter.failed();
  t.reconnect.later("connect_error");
  assert.equal(t.machine.state, STATES.CONNECTING);
  t.reconnect.cancel();
  t.meter.failed();
  t.reconnect.later("connect_error");
  assert.equal(t.machine.state, STATES.OFFLINE);
  assert.equal(t.reconnect.downState(), STATES.OFFLINE);
});

test("no retry while stopped or unauthorized", () => {
  const t = setup();
  t.unauthorized = true;
  t.reconnect.later("unauthorized");
  assert.equal(t.reconnect.timer.pending, false);
  t.unauthorized = false;
  t.stopped = true;
  t.reconnect.later("io client disconnect");
  assert.equal(t.reconnect.timer.pending, false);
});

test("a wake-up while down skips the wait and starts over, but leaves a young attempt alone", () => {
  const t = setup();
  t.reconnect.now("start");
  for (let i = 0; i < 4; i += 1) {
    t.reconnect.later("connect_error");
    t.clock.advance(t.reconnect.dueAt - t.clock.now());
  }
  assert.equal(t.reconnect.timer.tries, 4);
  t.clock.advance(500); // the retry's attempt is 500 ms old
  t.reconnect.wake("visible", t.clock.now());
  assert.equal(t.attempts.length, 5, "an attempt younger than a second is given its chance");
  assert.equal(t.reconnect.timer.tries, 0, "the backoff starts over");
  t.clock.advance(600);
  t.reconnect.wake("online", t.clock.now());
  assert.deepEqual(t.attempts.at(-1), "wake:online", "an older attempt is replaced");
  t.reconnect.later("connect_error");
  t.reconnect.wake("retry now", t.clock.now());
  assert.equal(t.attempts.at(-1), "wake:retry now", "a wait is never given its chance, however young");
  assert.equal(t.reconnect.timer.pending, false);
});

test("a watchdog tick restarts an attempt stuck past connectTimeout + 2 s, not a connected link", () => {
  const t = setup();
  t.reconnect.now("start");
  t.clock.advance(10_000);
  t.reconnect.tick(t.clock.now());
  assert.equal(t.attempts.length, 1, "10 s is not past 8 s + 2 s");
  t.clock.advance(1);
  t.reconnect.tick(t.clock.now());
  assert.deepEqual(t.attempts, ["start", "attempt stuck"]);
  t.machine.go(STATES.CONNECTED, "connected");
  t.clock.advance(20_000);
  t.reconnect.tick(t.clock.now());
  assert.equal(t.attempts.length, 2);
});

test("a drop counts a zombie, starts the backoff over and attempts at once; a connect resets it", () => {
  const t = setup();
  t.reconnect.now("start");
  t.reconnect.later("connect_error");
  t.clock.advance(t.reconnect.dueAt - t.clock.now());
  assert.equal(t.reconnect.timer.tries, 1);
  t.reconnect.drop("probe unanswered", 42);
  assert.equal(t.meter.stats.zombies, 1);
  assert.equal(t.meter.startedAt, 42, "the recovery counts from when the socket was found dead");
  assert.equal(t.attempts.at(-1), "drop: probe unanswered");
  assert.equal(t.reconnect.timer.tries, 0);
  t.reconnect.later("connect_error");
  t.reconnect.connected();
  assert.equal(t.reconnect.timer.pending, false);
  assert.equal(t.reconnect.timer.tries, 0);
});
