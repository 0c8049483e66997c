import assert from "node:assert/strict";
import { test } from "node:test";

import { Logbook } from "../../src/tether/static/js/client/logbook.js";
import { RemoteLog } from "../../src/tether/static/js/client/remotelog.js";
import { FakeClock } from "./support/fakes.mjs";

function setup({ fail = 0, options = {} } = {}) {
  const clock = new FakeClock();
  const logbook = new Logbook({ timers: clock, console: null });
  const posts = [];
  let failures = fail;
  const fetch = async (url, init) => {
    posts.push({ url, init, body: JSON.parse(init.body) });
    if (failures-- > 0) throw new TypeError("Failed to fetch");
    return { ok: true, status: 204 };
  };
  const remote = new RemoteLog({
    logbook, fetch, timers: clock, random: () => 0.999999, endpoint: "http://127.0.0.1:9/api/client-logs",
    token: () => "tok", clientId: () => "tab-1", options,
  });
  return { clock, logbook, remote, posts };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test("off by default; when on, lines go out in batches with the bearer token", async () => {
  const { clock, logbook, remote, posts } = setup();
  logbook.log("info", "before");
  clock.advance(5000);
  assert.equal(posts.length, 0);
  remote.setEnabled(true);
  logbook.log("warn", "[Connection] zombie");
  clock.advance(2000);
  await settle();
  assert.equal(posts.length, 1);
  assert.equal(posts[0].init.headers.Authorization, "Bearer tok");
  assert.equal(posts[0].body.client_id, "tab-1");
  assert.deepEqual(posts[0].body.lines.map((l) => l.msg), ["before", "[Connection] zombie"]);
  assert.deepEqual(Object.keys(posts[0].body.lines[0]).sort(), ["level", "msg", "ts"]);
});

test("retried while offline, then delivered; the queue is capped", async () => {
  const { clock, logbook, remote, posts } = setup({ fail: 2, options: { maxQueue: 5 } });
  remote.setEnabled(true);
  for (let i = 0; i < 8; i++) logbook.log("info", `line ${i}`);
  assert.equal(remote.stats.dropped, 3);
  clock.advance(2000);
  await settle();
  clock.advance(1000);
  await settle();
  clock.advance(2000);
  await settle();
  assert.equal(posts.length, 3);
  assert.deepEqual(posts[2].body.lines.map((l) => l.msg), ["line 3", "line 4", "line 5", "line 6", "line 7"]);
  assert.equal(remote.queue.length, 0);
});
