// The offline shell's rules (static/js/sw/strategy.js): which requests the service worker
// answers, and network-first with the cache behind it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { networkFirst, shellKey, shellUrls, staleCaches } from "../../src/tether/static/js/sw/strategy.js";
import { FakeClock } from "./support/fakes.mjs";

const FILES = ["./", "manifest.webmanifest", "static/css/app.css", "static/js/app/main.js"];
const get = (url, mode = "cors") => ({ method: "GET", url, mode });

for (const scope of ["http://h:1/", "http://h:1/chat/"]) {
  test(`the shell's files and the page are answered under ${scope}, nothing else`, () => {
    const at = (path) => new URL(path, scope).href;
    assert.equal(shellKey(get(at("static/css/app.css")), scope, FILES), at("static/css/app.css"));
    assert.equal(shellKey(get(at("./"), "navigate"), scope, FILES), scope);
    assert.equal(shellKey(get(at("index.html"), "navigate"), scope, FILES), scope);
    // A sign-in link's token is never part of a cache key.
    assert.equal(shellKey(get(at("./?token=tt_secret#/s/x"), "navigate"), scope, FILES), scope);
    for (const path of ["socket.io/?EIO=4&transport=polling", "api/client-logs", "metrics", "healthz",
                        "static/js/app/other.js", "static/css/app.css?v=2"]) {
      assert.equal(shellKey(get(at(path)), scope, FILES), null, path);
    }
    assert.equal(shellKey(get(at("metrics"), "navigate"), scope, FILES), null);
    assert.equal(shellKey({ method: "POST", url: at("static/css/app.css"), mode: "cors" }, scope, FILES), null);
    assert.equal(shellKey(get("http://other:1/static/css/app.css"), scope, FILES), null);
  });
}

test("the socket and the API are never the shell's, even if listed", () => {
  const scope = "http://h:1/";
  assert.equal(shellKey(get(`${scope}socket.io/x.js`), scope, ["socket.io/x.js"]), null);
  assert.equal(shellKey(get(`${scope}api/x`), scope, ["api/x"]), null);
});

test("outside the mount prefix nothing is answered", () => {
  assert.equal(shellKey(get("http://h:1/", "navigate"), "http://h:1/chat/", FILES), null);
  assert.equal(shellKey(get("http://h:1/static/css/app.css"), "http://h:1/chat/", FILES), null);
  assert.deepEqual(shellUrls("http://h:1/chat/", ["./", "static/a.css"]), ["http://h:1/chat/", "http://h:1/chat/static/a.css"]);
});

test("older versions' caches are the stale ones; other caches are not ours", () => {
  assert.deepEqual(staleCaches(["tether-shell-a", "tether-shell-b", "mine"], "tether-shell-", "tether-shell-b"), ["tether-shell-a"]);
});

class FakeCache {
  constructor(entries = {}) { this.map = new Map(Object.entries(entries)); }
  async match(key) { return this.map.get(key); }
  async put(key, response) { this.map.set(key, response); }
}

const response = (body, status = 200) => ({ ok: status >= 200 && status < 300, status, type: "basic", body, clone() { return this; } });

test("online, the network's answer is served and refreshes the cache", async () => {
  const cache = new FakeCache({ k: response("old") });
  const asked = [];
  const fetch = async (key, init) => { asked.push([key, init.cache]); return response("new"); };
  const got = await networkFirst("k", { cache, fetch });
  assert.equal(got.body, "new");
  assert.equal((await cache.match("k")).body, "new");
  assert.deepEqual(asked, [["k", "no-cache"]]); // revalidated, never an old copy of the HTTP cache
});

test("without network, or with a server error, the cached copy is served", async () => {
  const cache = new FakeCache({ k: response("cached") });
  const offline = async () => { throw new TypeError("Failed to fetch"); };
  assert.equal((await networkFirst("k", { cache, fetch: offline })).body, "cached");
  const failing = async () => response("bad gateway", 502);
  assert.equal((await networkFirst("k", { cache, fetch: failing })).body, "cached");
  assert.equal((await cache.match("k")).body, "cached"); // an error is never cached
  const empty = new FakeCache();
  assert.equal((await networkFirst("k", { cache: empty, fetch: failing })).status, 502);
  await assert.rejects(networkFirst("k", { cache: empty, fetch: offline }), TypeError);
});

test("a network slower than the timeout gets the cached copy, and still refreshes the cache", async () => {
  const clock = new FakeClock();
  const cache = new FakeCache({ k: response("cached") });
  let answer;
  const fetch = () => new Promise((resolve) => { answer = resolve; });
  const kept = [];
  const served = networkFirst("k", { cache, fetch, timers: clock, timeoutMs: 4000, waitUntil: (p) => kept.push(p) });
  clock.advance(4000);
  assert.equal((await served).body, "cached");
  answer(response("late"));
  await Promise.all(kept);
  assert.equal((await cache.match("k")).body, "late");
});
