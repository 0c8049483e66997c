import assert from "node:assert/strict";
import { test } from "node:test";

import { Watchdog } from "../../src/tether/static/js/client/watchdog.js";
import { FakeClock } from "./support/fakes.mjs";

function setup(options = {}) {
  const clock = new FakeClock();
  const ticks = [];
  const frozen = [];
  const watchdog = new Watchdog({
    timers: clock, options, onTick: (now) => ticks.push(now), onFrozen: (late, now) => frozen.push({ late, now }),
  });
  return { clock, watchdog, ticks, frozen };
}

test("ticks every interval until stopped", () => {
  const { clock, watchdog, ticks } = setup({ interval: 1000 });
  watchdog.start();
  const start = clock.now();
  clock.advance(3500);
  assert.deepEqual(ticks, [start + 1000, start + 2000, start + 3000]);
  watchdog.stop();
  assert.ok(!watchdog.running);
  clock.advance(5000);
  assert.equal(ticks.length, 3);
  assert.equal(clock.pending, 0);
});

test("a tick far later than planned reports frozen timers, with how late; the ticks go on", () => {
  const { clock, watchdog, ticks, frozen } = setup();
  watchdog.start();
  clock.freeze(10_000);
  clock.advance(1);
  assert.equal(frozen.length, 1);
  assert.equal(frozen[0].late, 10_000 - 2000, "fired on the first timer check after the freeze");
  assert.deepEqual(ticks, []);
  clock.advance(2000);
  assert.equal(ticks.length, 1);
});

test("a tick late by no more than frozenGap is an ordinary tick", () => {
  const { clock, watchdog, ticks, frozen } = setup({ interval: 2000, frozenGap: 4000 });
  watchdog.start();
  clock.freeze(6000);
  clock.advance(0);
  assert.deepEqual(frozen, []);
  assert.equal(ticks.length, 1);
});
