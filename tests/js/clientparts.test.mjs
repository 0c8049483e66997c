// TetherClient's small parts (client.js): session and Web Push requests, sign-in refusals.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Emitter } from "../../src/tether/static/js/client/emitter.js";
import { SessionRequests } from "../../src/tether/static/js/client/sessionrequests.js";
import { SignIn } from "../../src/tether/static/js/client/signin.js";
import { WebPush } from "../../src/tether/static/js/client/webpush.js";

/** A request function answering from `replies[event]`, recording what was asked. */
function fakeRequest(replies) {
  const asked = [];
  const request = async (event, payload, attempts) => { asked.push({ event, payload, attempts }); return replies[event]; };
  return { asked, request };
}

test("session requests: saves are retried 3 times and applied, the list page replaces the list", async () => {
  const session = { id: "s1", title: "t" };
  const { asked, request } = fakeRequest({
    create_session: { session }, update_session: { session }, list_sessions: { sessions: [session] },
    cancel: { cancelled: true }, retry: { queued: false },
  });
  const seen = { upserts: [], pages: [] };
  const sessions = { upsert: (s) => seen.upserts.push(s), applyPage: (p) => seen.pages.push(p) };
  const requests = new SessionRequests({ sessions, request, uuid: () => "new-id" });
  assert.equal(await requests.create({ title: "t" }), session);
  assert.deepEqual(asked.at(-1), { event: "create_session", payload: { id: "new-id", title: "t" }, attempts: 3 });
  await requests.create();
  assert.deepEqual(asked.at(-1).payload, { id: "new-id" }, "no empty title or agent sent");
  await requests.update("s1", { archived: true });
  assert.deepEqual(asked.at(-1), { event: "update_session", payload: { session_id: "s1", archived: true }, attempts: 3 });
  await requests.refresh();
  assert.deepEqual(asked.at(-1), { event: "list_sessions", payload: { limit: 100 }, attempts: 1 });
  assert.deepEqual(seen, { upserts: [session, session, session], pages: [[session]] });
  assert.equal(await requests.cancel("s1"), true);
  assert.equal(asked.at(-1).attempts, 1);
  assert.equal(await requests.retryAnswer("s1", "m1"), false);
  assert.deepEqual(asked.at(-1), { event: "retry", payload: { session_id: "s1", message_id: "m1" }, attempts: 3 });
});

test("web push: the key only when the server offers push; the subscription sent as stored", async () => {
  let hello = null;
  const { asked, request } = fakeRequest({ push_subscribe: { ok: true }, push_unsubscribe: { removed: true } });
  const push = new WebPush({ hello: () => hello, request });
  assert.equal(push.key, null);
  hello = { push: { public_key: "vapid" } };
  assert.equal(push.key, "vapid");
  await push.subscribe({ endpoint: "https://push.example/1", keys: { p256dh: "p", auth: "a", extra: "x" } }, "phone");
  assert.deepEqual(asked.at(-1), {
    event: "push_subscribe", attempts: 3,
    payload: { endpoint: "https://push.example/1", keys: { p256dh: "p", auth: "a" }, device: "phone" },
  });
  assert.equal(await push.unsubscribe("https://push.example/1"), true);
});

test("sign-in: a refused token is forgotten and said refused; a refused client_id is renewed", () => {
  const connection = new Emitter();
  const identity = { token: "secret", renewed: 0, setToken(t) { this.token = t; }, renew() { this.renewed += 1; } };
  let changes = 0;
  const signIn = new SignIn({ connection, identity, onChange: () => { changes += 1; } });
  connection.emit("unauthorized", { message: "unauthorized" });
  assert.equal(signIn.refused, true);
  assert.equal(identity.token, null);
  connection.emit("unauthorized", { message: "unauthorized" });
  assert.equal(signIn.refused, false, "no token sent: sign-in is required, not refused");
  assert.equal(changes, 2);
  connection.emit("kicked", { reason: "io server disconnect" });
  connection.emit("invalid_client", { message: "invalid_client" });
  assert.equal(identity.renewed, 2);
});
