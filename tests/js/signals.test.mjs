import assert from "node:assert/strict";
import { test } from "node:test";

import { PageSignals, WAKE_SIGNALS } from "../../src/tether/static/js/client/signals.js";
import { FakeClock, FakeEnv } from "./support/fakes.mjs";

function setup() {
  const clock = new FakeClock();
  const env = new FakeEnv();
  const wakes = [];
  let offline = 0;
  const signals = new PageSignals({ env, timers: clock, onWake: (s) => wakes.push(s), onOffline: () => { offline += 1; } });
  signals.start();
  return { clock, env, signals, wakes, offline: () => offline };
}

test("every wake-up signal is reported; hiding is not a wake-up", () => {
  const t = setup();
  for (const signal of WAKE_SIGNALS) t.env.fire(signal);
  assert.deepEqual(t.wakes, [...WAKE_SIGNALS]);
  t.env.hide();
  t.env.fire("freeze");
  t.env.fire("pagehide");
  assert.equal(t.wakes.length, WAKE_SIGNALS.length);
  t.env.fire("offline");
  assert.equal(t.offline(), 1);
});

test("the absence is measured from the first sign of hiding and forgotten once visible", () => {
  const t = setup();
  assert.equal(t.signals.takeAway(), 0);
  t.env.hide();
  t.clock.advance(1000);
  t.env.fire("freeze");
  t.clock.advance(4000);
  assert.equal(t.signals.takeAway(), 5000, "still hidden: kept");
  t.env.show();
  assert.equal(t.signals.takeAway(), 5000);
  assert.equal(t.signals.takeAway(), 0);
});

test("frozen timers count as an absence; a page hidden at start counts from then; stop() unlistens", () => {
  const t = setup();
  t.signals.awaySince(t.clock.now() - 7000);
  assert.equal(t.signals.takeAway(), 7000);
  const env = new FakeEnv();
  env.isVisible = false;
  const clock = new FakeClock();
  const wakes = [];
  const signals = new PageSignals({ env, timers: clock, onWake: (s) => wakes.push(s), onOffline: () => {} });
  signals.start();
  clock.advance(300);
  env.isVisible = true;
  assert.equal(signals.takeAway(), 300);
  signals.stop();
  env.fire("focus");
  assert.deepEqual(wakes, []);
});
