import assert from "node:assert/strict";
import { test } from "node:test";

import { classifyError, Outbox } from "../../src/tether/static/js/client/outbox.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { KeyValueStore } from "../../src/tether/static/js/client/storage.js";
import { FakeClock, FakeConnection, MemoryStorage } from "./support/fakes.mjs";
import { msg } from "./support/messages.mjs";

function setup({ storage = new MemoryStorage(), connected = true } = {}) {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  connection.connected = connected;
  let n = 0;
  const outbox = new Outbox({
    connection,
    store: new KeyValueStore(storage, "tether.outbox."),
    timers: clock,
    uuid: () => `cm-${++n}`,
    random: () => 0.999999,
  });
  return { clock, connection, outbox, storage };
}

const okAck = (entry, duplicate = false) => ({
  ok: true, duplicate, message: msg("m1", 1, { client_msg_id: entry.client_msg_id, content: entry.content }),
});

test("an entry is stored before it is emitted and removed once acknowledged", () => {
  const { connection, outbox, storage } = setup();
  const order = [];
  const setItem = storage.setItem.bind(storage);
  storage.setItem = (k, v) => { order.push("stored"); setItem(k, v); };
  const push = connection.push.bind(connection);
  connection.push = (...args) => { order.push("emitted"); return push(...args); };
  const entry = outbox.add("s1", "hello");
  assert.ok(order.indexOf("stored") === 0 && order.includes("emitted"), order.join());
  assert.deepEqual(connection.requests("send")[0].payload, { session_id: "s1", client_msg_id: "cm-1", content: "hello" });
  let sent = null;
  outbox.on("sent", (event) => { sent = event; });
  connection.answer("send", okAck(entry));
  assert.equal(sent.entry.state, "sent");
  assert.equal(outbox.entries.length, 0);
  assert.equal(storage.length, 0);
});

test("typed while offline: kept as pending, sent on the next flush after connecting", () => {
  const { connection, outbox } = setup({ connected: false });
  outbox.add("s1", "in a tunnel");
  assert.equal(connection.requests("send").length, 0);
  assert.equal(outbox.entries[0].state, "pending");
  connection.connected = true;
  outbox.flush();
  assert.equal(connection.requests("send").length, 1);
});

test("a reload finds the stored entries and re-sends them with the same client_msg_id", () => {
  const first = setup({ connected: false });
  first.outbox.add("s1", "before reload");
  const second = setup({ storage: first.storage });
  assert.equal(second.outbox.entries.length, 1);
  second.outbox.flush();
  assert.equal(second.connection.requests("send")[0].payload.client_msg_id, "cm-1");
  second.connection.answer("send", okAck(second.outbox.entries[0], true));
  assert.equal(second.outbox.entries.length, 0);
});

test("one at a time, in order", () => {
  const { connection, outbox } = setup();
  const a = outbox.add("s1", "first");
  outbox.add("s1", "second");
  assert.equal(connection.requests("send").length, 1);
  connection.answer("send", okAck(a));
  assert.equal(connection.requests("send").length, 2);
  assert.equal(connection.requests("send")[1].payload.content, "second");
});

test("timeout and unavailable retry later with backoff; the same client_msg_id is re-sent", () => {
  const { clock, connection, outbox } = setup();
  outbox.add("s1", "x");
  clock.advance(10_000); // no ack: timeout
  assert.equal(outbox.entries[0].state, "pending");
  assert.equal(connection.requests("send").length, 1);
  clock.advance(500);
  assert.equal(connection.requests("send").length, 2);
  connection.answer("send", { ok: false, error: { code: "unavailable", message: "db down" } });
  clock.advance(1000);
  const sends = connection.requests("send");
  assert.equal(sends.length, 3);
  assert.ok(sends.every((s) => s.payload.client_msg_id === "cm-1"));
  assert.equal(outbox.entries[0].attempts, 3);
});

test("invalid, too_large, not_found and conflict fail the entry; retry sends it again", () => {
  for (const code of ["invalid", "too_large", "not_found", "conflict"]) {
    assert.equal(classifyError(code), "fail");
  }
  for (const code of ["unavailable", "rate_limited", "timeout"]) assert.equal(classifyError(code), "retry");
  const { clock, connection, outbox } = setup();
  const entry = outbox.add("s1", "x".repeat(10));
  connection.answer("send", { ok: false, error: { code: "too_large", message: "too long" } });
  assert.equal(entry.state, "failed");
  assert.equal(entry.error.code, "too_large");
  clock.advance(60_000);
  assert.equal(connection.requests("send").length, 1, "a failed entry is not retried by itself");
  outbox.retry(entry.client_msg_id);
  assert.equal(connection.requests("send").length, 2);
  connection.answer("send", okAck(entry));
  assert.equal(outbox.entries.length, 0);
});

test("a failed entry can be discarded", () => {
  const { connection, outbox, storage } = setup();
  const entry = outbox.add("s1", "x");
  connection.answer("send", { ok: false, error: { code: "invalid", message: "bad" } });
  outbox.discard(entry.client_msg_id);
  assert.equal(outbox.entries.length, 0);
  assert.equal(storage.length, 0);
});
