import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff, backoffDelay } from "../../src/tether/static/js/client/backoff.js";

test("the ceiling doubles from 250 ms and stops at 5 s", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 20].map((n) => backoffDelay(n, () => 0.999999));
  assert.deepEqual(ceilings, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
});

test("full jitter: the smallest pick stays above a floor so a flapping server is not hammered", () => {
  assert.equal(backoffDelay(0, () => 0), 125);
  assert.equal(backoffDelay(10, () => 0), 125);
  assert.equal(backoffDelay(3, () => 0.5), Math.round(125 + 0.5 * (2000 - 125)));
});

test("Backoff counts attempts forever and resets", () => {
  const backoff = new Backoff({ random: () => 0.999999 });
  const delays = Array.from({ length: 1000 }, () => backoff.next());
  assert.equal(delays[0], 250);
  assert.equal(delays[999], 5000);
  assert.ok(delays.every((d) => d >= 125 && d <= 5000));
  assert.equal(backoff.attempts, 1000);
  backoff.reset();
  assert.equal(backoff.next(), 250);
});

test("delays are spread by the injected random source", () => {
  let i = 0;
  const values = [0.1, 0.9];
  const backoff = new Backoff({ random: () => values[i++ % 2] });
  backoff.attempts = 5;
  const a = backoff.next();
  const b = backoff.next();
  assert.notEqual(a, b);
});
