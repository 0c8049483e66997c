// The Connection's small parts (connection.js): its states, its counters, the storage-down watch.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConnectMeter } from "../../src/tether/static/js/client/connmeter.js";
import { downState, STATES } from "../../src/tether/static/js/client/connstate.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { StorageHealth } from "../../src/tether/static/js/client/storagehealth.js";
import { FakeClock } from "./support/fakes.mjs";

test("a lost connection is connecting while online and not failing, else offline", () => {
  const rule = { online: true, failures: 2, offlineAfterFailures: 3 };
  assert.equal(downState(rule), STATES.CONNECTING);
  assert.equal(downState({ ...rule, failures: 3 }), STATES.OFFLINE);
  assert.equal(downState({ ...rule, online: false, failures: 0 }), STATES.OFFLINE);
});

test("the meter counts a connect's time from the start of its recovery, once", () => {
  const meter = new ConnectMeter({ fresh: 0, kept: 0 });
  assert.deepEqual(meter.connected(100), { reconnect: false, recoveryStartedAt: null });
  assert.equal(meter.stats.lastConnectMs, null);
  meter.begin(1000);
  meter.begin(1500); // a recovery under way keeps its start
  meter.failed();
  assert.equal(meter.stats.failures, 1);
  assert.deepEqual(meter.connected(1200), { reconnect: true, recoveryStartedAt: 1000 });
  assert.equal(meter.stats.lastConnectMs, 200);
  assert.equal(meter.stats.failures, 0, "a connect ends the failures in a row");
  meter.zombie(3000);
  assert.equal(meter.stats.zombies, 1);
  meter.connected(3050);
  assert.equal(meter.stats.lastConnectMs, 50, "a drop counts from when the socket was found dead");
  meter.restart(4000);
  meter.forget();
  meter.connected(4100);
  assert.equal(meter.stats.lastConnectMs, null, "a forgotten recovery is not counted");
  assert.equal(meter.stats.reconnects, 3);
});

function answered(status, response) {
  const push = new Push(() => {}, "x", {}, { timers: new FakeClock() });
  return { push, settle: () => push.settle(status, response) };
}

test("storage is down after `unavailable` on a live connection, back after the next ok", () => {
  const changes = [];
  const health = new StorageHealth({ onChange: (down) => changes.push(down) });
  const down = answered("error", { code: "unavailable", message: "db" });
  health.watch(down.push, () => true);
  down.settle();
  assert.equal(health.down, true);
  const notConnected = answered("error", { code: "unavailable", message: "not connected" });
  health.watch(notConnected.push, () => false);
  notConnected.settle();
  const back = answered("ok", {});
  health.watch(back.push, () => true);
  back.settle();
  assert.equal(health.down, false);
  assert.deepEqual(changes, [true, false]);
});

test("`unavailable` while not connected says nothing about storage", () => {
  const health = new StorageHealth();
  const failed = answered("error", { code: "unavailable", message: "not connected" });
  health.watch(failed.push, () => false);
  failed.settle();
  assert.equal(health.down, false);
});
