import assert from "node:assert/strict";
import { test } from "node:test";

import { Presence } from "../../src/tether/static/js/client/presence.js";
import { Push } from "../../src/tether/static/js/client/push.js";
import { endsAnswer, notificationBody } from "../../src/tether/static/js/app/notify.js";
import { FakeClock, FakeConnection, FakeEnv } from "./support/fakes.mjs";

function setup({ enabled = true } = {}) {
  const clock = new FakeClock();
  const connection = new FakeConnection(clock, Push);
  const env = new FakeEnv();
  const presence = new Presence({ connection, env, timers: clock, enabled: () => enabled });
  const reports = () => connection.requests("presence").map((p) => p.payload);
  return { clock, connection, env, presence, reports };
}

test("presence says which chat a visible tab shows, and that a hidden one shows none", () => {
  const { connection, env, presence, reports } = setup();
  presence.show("s1");
  connection.answer("presence", { ok: true, ttl: 120 });
  env.hide();
  connection.answer("presence", { ok: true, ttl: 120 });
  presence.show("s2"); // switching chats while hidden changes nothing the server needs
  env.show();
  assert.deepEqual(reports(), [
    { visible: true, session_id: "s1" }, { visible: false }, { visible: true, session_id: "s2" },
  ]);
});

test("presence is renewed at half its ttl while visible, and sent again after a reconnect", () => {
  const { clock, connection, presence, reports } = setup();
  presence.show("s1");
  connection.answer("presence", { ok: true, ttl: 120 });
  clock.advance(59_000);
  assert.equal(reports().length, 1);
  clock.advance(1_000);
  assert.equal(reports().length, 2, "renewed after 60 s");
  connection.answer("presence", { ok: true, ttl: 120 });
  presence.show("s1");
  assert.equal(reports().length, 2, "nothing new to say");
  presence.connected();
  assert.equal(reports().length, 3, "a new connection is told again");
});

test("no presence is sent to a server that offers no push, or while disconnected", () => {
  const off = setup({ enabled: false });
  off.presence.show("s1");
  assert.deepEqual(off.reports(), []);
  const down = setup();
  down.connection.connected = false;
  down.presence.show("s1");
  assert.deepEqual(down.reports(), []);
});

test("only an assistant answer's end is announced, cancelled ones not", () => {
  for (const status of ["complete", "failed", "interrupted"]) assert.ok(endsAnswer({ role: "assistant", status }));
  assert.ok(!endsAnswer({ role: "assistant", status: "cancelled" }));
  assert.ok(!endsAnswer({ role: "assistant", status: "streaming" }));
  assert.ok(!endsAnswer({ role: "user", status: "complete" }));
});

test("the notification's body is one line: the answer, or why it failed or stopped", () => {
  assert.equal(notificationBody({ status: "complete", content: "Hello\n\n  world" }), "Hello world");
  assert.equal(notificationBody({ status: "failed", content: "", error: "boom" }), "Failed: boom");
  assert.equal(notificationBody({ status: "interrupted", content: "" }), "The answer was interrupted.");
  assert.equal(notificationBody({ status: "interrupted", content: "half" }), "Interrupted: half");
  const long = notificationBody({ status: "complete", content: "x".repeat(500) });
  assert.equal(long.length, 140);
  assert.ok(long.endsWith("…"));
});
