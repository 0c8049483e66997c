// The status line (issue 15, item 2): what it says is what is true.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bannerText } from "../../src/tether/static/js/app/banner.js";
import { TetherClient } from "../../src/tether/static/js/client/client.js";
import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { connectionStatus, STATUS } from "../../src/tether/static/js/client/status.js";
import { FakeClock, FakeEnv, fakeIo, MemoryStorage } from "./support/fakes.mjs";

const base = {
  state: "connecting", unauthorized: false, online: true, failures: 0, unreachableAfter: 3,
  nextAttemptAt: null, storageDown: false, now: 1000,
};

test("the status says offline only when the browser says so", () => {
  assert.equal(connectionStatus({ ...base, state: "offline", online: false }).kind, STATUS.OFFLINE);
  const down = connectionStatus({ ...base, state: "offline", failures: 5, nextAttemptAt: 3400 });
  assert.deepEqual(down, { kind: STATUS.UNREACHABLE, retryInMs: 2400 });
  assert.equal(connectionStatus({ ...base, failures: 1 }).kind, STATUS.CONNECTING);
});

test("a refused token is 'signed out', storage down while connected is 'unavailable'", () => {
  assert.equal(connectionStatus({ ...base, state: "offline", unauthorized: true }).kind, STATUS.SIGNED_OUT);
  assert.equal(connectionStatus({ ...base, state: "connected", storageDown: true }).kind, STATUS.UNAVAILABLE);
  assert.equal(connectionStatus({ ...base, state: "connected" }).kind, STATUS.CONNECTED);
});

test("the banner never says offline unless it is, and counts down to the next attempt", () => {
  const unreachable = bannerText({ kind: STATUS.UNREACHABLE, retryInMs: 2400 }, 2);
  assert.equal(unreachable, "Can't reach the server (next attempt in 3 s). 2 waiting to be sent.");
  assert.doesNotMatch(unreachable, /offline/);
  assert.match(bannerText({ kind: STATUS.OFFLINE, retryInMs: null }, 0), /^You're offline/);
  assert.equal(bannerText({ kind: STATUS.CONNECTED, retryInMs: null }, 0), null);
});

function setup(sharedStorage = new MemoryStorage()) {
  const clock = new FakeClock();
  const env = new FakeEnv();
  const io = fakeIo();
  const client = new TetherClient({
    url: "http://127.0.0.1:9", io, env, tabStorage: new MemoryStorage(), sharedStorage, timers: clock,
    random: () => 0.5, uuid: () => "00000000-0000-4000-8000-000000000001",
    fetch: async () => ({ ok: true, status: 204 }), logbook: new Logbook({ timers: clock, console: null }),
  });
  client.start();
  return { clock, env, client, socket: io.sockets[0], sharedStorage };
}

test("with the browser online and the server down, the client says unreachable, then retry now", () => {
  const t = setup();
  for (let i = 0; i < 3; i += 1) {
    t.socket.refuse("xhr poll error");
    if (i < 2) t.clock.advance(t.client.connection.nextAttemptAt - t.clock.now());
  }
  const view = t.client.view(null);
  assert.equal(view.status.kind, STATUS.UNREACHABLE);
  assert.ok(view.status.retryInMs > 0);
  t.client.retryNow();
  assert.equal(t.client.connection.nextAttemptAt, null, "retry now skips the wait");
  assert.equal(t.socket.opening, true, "an attempt is in flight at once");
});

test("a refused token is forgotten and the sign-in says it was refused", () => {
  const shared = new MemoryStorage();
  shared.setItem("tether.token", JSON.stringify("wrong"));
  const t = setup(shared);
  t.socket.refuse("unauthorized");
  const view = t.client.view(null);
  assert.equal(view.status.kind, STATUS.SIGNED_OUT);
  assert.equal(view.signIn, "refused");
  assert.equal(t.client.token, null);
  assert.equal(shared.getItem("tether.token"), null);
});

test("an unavailable ack while connected says storage is down until a request succeeds", () => {
  const t = setup();
  t.socket.accept();
  t.socket.answer("list_sessions", { ok: false, error: { code: "unavailable", message: "db down" } });
  assert.equal(t.client.view(null).status.kind, STATUS.UNAVAILABLE);
  t.socket.answer("heartbeat", { ok: true, server_time: 1 });
  assert.equal(t.client.view(null).status.kind, STATUS.UNAVAILABLE, "a heartbeat proves nothing about storage");
  t.client.refreshSessions();
  t.socket.answer("list_sessions", { ok: true, sessions: [], has_more: false });
  assert.equal(t.client.view(null).status.kind, STATUS.CONNECTED);
});
