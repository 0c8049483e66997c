import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_PING, ServerPing } from "../../src/tether/static/js/client/ping.js";

test("Engine.IO's defaults until the server's hello says otherwise", () => {
  const ping = new ServerPing();
  assert.deepEqual([ping.pingInterval, ping.pingTimeout, ping.fromServer], [25_000, 20_000, false]);
  assert.equal(ping.serverTimeout, 45_000);
  assert.equal(ping.silenceLimit, 30_000);
  assert.ok(Object.isFrozen(DEFAULT_PING));
});

test("hello.limits in milliseconds: the server timeout and the silence limit follow", () => {
  const ping = new ServerPing();
  assert.ok(ping.set({ ping_interval: 2000, ping_timeout: 1000, max_resume: 5 }));
  assert.deepEqual([ping.pingInterval, ping.pingTimeout, ping.fromServer], [2000, 1000, true]);
  assert.equal(ping.serverTimeout, 3000);
  assert.equal(ping.silenceLimit, 2500, "half the timeout after a ping is due");
  ping.set({ ping_interval: 10_000, ping_timeout: 60_000 });
  assert.equal(ping.silenceLimit, 15_000, "at most 5 s after a ping is due");
});

test("missing or bad values change nothing", () => {
  const ping = new ServerPing();
  for (const limits of [undefined, null, {}, { ping_interval: 1000 }, { ping_interval: -1, ping_timeout: 1 },
    { ping_interval: NaN, ping_timeout: 1 }]) {
    assert.equal(ping.set(limits ?? undefined), false);
  }
  assert.equal(ping.serverTimeout, 45_000);
});
