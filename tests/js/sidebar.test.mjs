// The sidebar's relative dates, and agents kept for a page opened while disconnected (issue 15,
// items 6 and 8).
import assert from "node:assert/strict";
import { test } from "node:test";

import { relativeDate } from "../../src/tether/static/js/app/sidebar.js";
import { TetherClient } from "../../src/tether/static/js/client/client.js";
import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { FakeClock, FakeEnv, fakeIo, MemoryStorage } from "./support/fakes.mjs";

test("relative dates: now, minutes, hours today, yesterday, weekday, date", () => {
  const now = new Date(2026, 11, 10, 15, 0, 0).getTime(); // a Thursday, 15:00 local time
  const at = (...parts) => new Date(2026, ...parts).toISOString();
  assert.equal(relativeDate(at(11, 10, 14, 59, 40), now), "now");
  assert.equal(relativeDate(at(11, 10, 14, 55), now), "5 min");
  assert.equal(relativeDate(at(11, 10, 9, 30), now), "5 h");
  assert.equal(relativeDate(at(11, 9, 23, 0), now), "yesterday");
  assert.equal(relativeDate(at(11, 6, 12, 0), now, "en-US"), "Sun");
  assert.equal(relativeDate(at(10, 2, 12, 0), now, "en-US"), "Nov 2");
  assert.equal(relativeDate(new Date(2025, 0, 5).toISOString(), now, "en-US"), "Jan 5, 2025");
  assert.equal(relativeDate(null, now), "");
});

function client(sharedStorage) {
  const clock = new FakeClock();
  const io = fakeIo();
  const c = new TetherClient({
    url: "http://127.0.0.1:9", io, env: new FakeEnv(), tabStorage: new MemoryStorage(), sharedStorage,
    timers: clock, random: () => 0.5, uuid: () => "00000000-0000-4000-8000-000000000001",
    fetch: async () => ({ ok: true, status: 204 }), logbook: new Logbook({ timers: clock, console: null }),
  });
  c.start();
  return { client: c, socket: io.sockets[0] };
}

test("the agents of the last hello are offered while the server cannot be reached", () => {
  const shared = new MemoryStorage();
  const first = client(shared);
  assert.equal(first.client.view(null).agents, null, "nothing known yet");
  first.socket.accept();
  const agents = [{ name: "echo", kind: "echo" }, { name: "gpt", kind: "openai" }];
  first.socket.fire("hello", { protocol: 1, agents, default_agent: "gpt", limits: {} });
  first.client.stop();

  const reloaded = client(shared); // a reload while the server is down: no hello
  reloaded.socket.refuse("xhr poll error");
  const view = reloaded.client.view(null);
  assert.deepEqual(view.agents, agents);
  assert.equal(view.defaultAgent, "gpt");
});

test("a session event keeps the preview list_sessions gave; the open session previews its last message", async () => {
  const { SessionList } = await import("../../src/tether/static/js/client/sessionlist.js");
  const { withPreview } = await import("../../src/tether/static/js/client/viewmodel.js");
  const list = new SessionList();
  list.applyPage([{ id: "s1", updated_at: "2026-12-01T10:00:00Z", head_seq: 2, preview: "hello" }]);
  list.upsert({ id: "s1", updated_at: "2026-12-01T10:00:01Z", head_seq: 3, running: true });
  assert.equal(list.get("s1").preview, "hello");
  assert.equal(list.get("s1").running, true);
  const shown = withPreview(list.ordered(), "s1", [{ content: "older" }, { content: "newest" }]);
  assert.equal(shown[0].preview, "newest");
  assert.equal(list.get("s1").preview, "hello", "the list itself is not changed");
});

test("the open session's preview is the start of its last message, cut as the server cuts it", async () => {
  const { withPreview, PREVIEW_CHARS } = await import("../../src/tether/static/js/client/viewmodel.js");
  assert.equal(PREVIEW_CHARS, 120, "the length docs/protocol.md gives list_sessions' preview");
  const answer = "word ".repeat(20_000); // a long streaming answer
  const [shown] = withPreview([{ id: "s1", preview: "" }], "s1", [{ content: answer }]);
  assert.equal(shown.preview, answer.slice(0, 120));
});
