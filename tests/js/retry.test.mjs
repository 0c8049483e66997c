import assert from "node:assert/strict";
import { test } from "node:test";

import { RETRY_POLICY, retryDelay, retryTimer } from "../../src/tether/static/js/client/retry.js";
import { Timer } from "../../src/tether/static/js/client/timer.js";
import { FakeClock } from "./support/fakes.mjs";

test("the ceiling doubles from 250 ms and stops at 5 s", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 20].map((n) => retryDelay(n, () => 0.999999));
  assert.deepEqual(ceilings, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  assert.ok(Object.isFrozen(RETRY_POLICY));
});

test("full jitter: the smallest pick stays above a floor so a flapping server is not hammered", () => {
  assert.equal(retryDelay(0, () => 0), 125);
  assert.equal(retryDelay(10, () => 0), 125);
  assert.equal(retryDelay(3, () => 0.5), Math.round(125 + 0.5 * (2000 - 125)));
});

test("delays are spread by the injected random source", () => {
  assert.notEqual(retryDelay(5, () => 0.1), retryDelay(5, () => 0.9));
});

test("Timer: fires once after the delay of its tries, counts the try when it fires", () => {
  const clock = new FakeClock();
  const asked = [];
  let fired = 0;
  const timer = new Timer(() => { fired += 1; }, (tries) => { asked.push(tries); return 100 * (tries + 1); }, clock);
  assert.equal(timer.schedule(), 100);
  assert.ok(timer.pending);
  clock.advance(99);
  assert.equal(fired, 0);
  clock.advance(1);
  assert.equal(fired, 1);
  assert.equal(timer.tries, 1);
  assert.ok(!timer.pending);
  assert.equal(timer.schedule(), 200);
  assert.deepEqual(asked, [0, 1]);
});

test("Timer: schedule replaces a scheduled try; cancel keeps the count; reset starts over", () => {
  const clock = new FakeClock();
  let fired = 0;
  const timer = new Timer(() => { fired += 1; }, (tries) => 100 * (tries + 1), clock);
  timer.schedule();
  timer.schedule();
  clock.advance(1000);
  assert.equal(fired, 1, "one try, not two");
  timer.schedule();
  timer.cancel();
  clock.advance(1000);
  assert.equal(fired, 1);
  assert.equal(timer.tries, 1);
  assert.equal(clock.pending, 0, "cancel leaves no timer behind");
  timer.reset();
  assert.equal(timer.tries, 0);
  assert.equal(timer.schedule(), 100);
});

test("retryTimer: the policy's delays, forever, and back to the shortest after reset", () => {
  const clock = new FakeClock();
  let fired = 0;
  const timer = retryTimer(() => { fired += 1; }, { timers: clock, random: () => 0.999999 });
  const delays = [];
  for (let i = 0; i < 1000; i++) {
    delays.push(timer.schedule());
    clock.advance(delays.at(-1));
  }
  assert.equal(fired, 1000);
  assert.equal(delays[0], 250);
  assert.equal(delays[999], 5000);
  assert.ok(delays.every((d) => d >= 125 && d <= 5000));
  timer.reset();
  assert.equal(timer.schedule(), 250);
});
