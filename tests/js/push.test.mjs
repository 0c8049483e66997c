import assert from "node:assert/strict";
import { test } from "node:test";

import { Push } from "../../src/tether/static/js/client/push.js";
import { FakeClock } from "./support/fakes.mjs";

function recorder() {
  const sent = [];
  const emit = (event, payload, ack) => sent.push({ event, payload, ack });
  return { sent, emit };
}

test("ok: the ack with ok=true reaches the ok hook, once", () => {
  const clock = new FakeClock();
  const { sent, emit } = recorder();
  const seen = [];
  const push = new Push(emit, "send", { a: 1 }, { timeout: 1000, timers: clock })
    .receive("ok", (ack) => seen.push(["ok", ack]))
    .receive("timeout", () => seen.push(["timeout"]))
    .send();
  assert.equal(sent[0].event, "send");
  clock.advance(10);
  sent[0].ack({ ok: true, message: { id: "m" } });
  sent[0].ack({ ok: true, message: { id: "again" } });
  clock.advance(5000);
  assert.deepEqual(seen, [["ok", { ok: true, message: { id: "m" } }]]);
  assert.equal(push.elapsed, 10);
  assert.equal(clock.pending, 0);
});

test("error: the error object reaches the error hook", () => {
  const clock = new FakeClock();
  const { sent, emit } = recorder();
  let error = null;
  new Push(emit, "send", {}, { timers: clock }).receive("error", (e) => { error = e; }).send();
  sent[0].ack({ ok: false, error: { code: "too_large", message: "too long" } });
  assert.deepEqual(error, { code: "too_large", message: "too long" });
});

test("timeout: no ack in time; a late ack is ignored", () => {
  const clock = new FakeClock();
  const { sent, emit } = recorder();
  const seen = [];
  const push = new Push(emit, "heartbeat", {}, { timeout: 1500, timers: clock })
    .receive("ok", () => seen.push("ok"))
    .receive("timeout", () => seen.push("timeout"))
    .send();
  clock.advance(1499);
  assert.deepEqual(seen, []);
  clock.advance(1);
  assert.deepEqual(seen, ["timeout"]);
  sent[0].ack({ ok: true });
  assert.deepEqual(seen, ["timeout"]);
  assert.equal(push.outcome.status, "timeout");
});

test("a hook registered after the outcome is called at once; promise() resolves", async () => {
  const clock = new FakeClock();
  const { sent, emit } = recorder();
  const push = new Push(emit, "x", {}, { timers: clock }).send();
  sent[0].ack("not an object");
  let late = null;
  push.receive("error", (e) => { late = e; });
  assert.equal(late.code, "internal");
  assert.deepEqual(await push.promise(), { status: "error", response: late });
});

test("an emit that throws ends the push with unavailable", () => {
  const clock = new FakeClock();
  const push = new Push(() => { throw new Error("boom"); }, "x", {}, { timers: clock }).send();
  assert.equal(push.outcome.status, "error");
  assert.equal(push.outcome.response.code, "unavailable");
  assert.equal(clock.pending, 0);
});
