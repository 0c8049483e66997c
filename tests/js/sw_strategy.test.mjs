// The offline shell's rules (static/js/sw/strategy.js): which requests the service worker
// answers, and network-first with the cache behind it.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  askVersion, fileSource, networkFirst, shellKey, shellUrls, staleCaches, versionOf,
} from "../../src/tether/static/js/sw/strategy.js";
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

const response = (body, status = 200, etag = null) => ({
  ok: status >= 200 && status < 300, status, type: "basic", body, headers: new Map(etag ? [["etag", etag]] : []),
  clone() { return this; },
});

test("online, the network's answer is served and refreshes the cache beside it", async () => {
  const cache = new FakeCache({ k: response("old", 200, '"1"') });
  const asked = [];
  const kept = [];
  const fetch = async (key, init) => { asked.push([key, init.cache]); return response("new", 200, '"2"'); };
  const got = await networkFirst("k", { cache, fetch, waitUntil: (p) => kept.push(p) });
  assert.equal(got.body, "new");
  await Promise.all(kept);
  assert.equal((await cache.match("k")).body, "new");
  assert.deepEqual(asked, [["k", "no-cache"]]); // revalidated, never an old copy of the HTTP cache
});

test("an unchanged file (the same ETag) is not written again", async () => {
  const cached = response("same", 200, '"1"');
  const cache = new FakeCache({ k: cached });
  let puts = 0;
  cache.put = async () => { puts += 1; };
  const kept = [];
  const got = await networkFirst("k", { cache, fetch: async () => response("same", 200, '"1"'), waitUntil: (p) => kept.push(p) });
  await Promise.all(kept);
  assert.equal(got.body, "same");
  assert.equal(puts, 0);
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

test("the page's files come from the cache only when the server serves this worker's version", () => {
  assert.equal(fileSource("v1", "v1"), "cache"); // the precache is exactly the server's files
  assert.equal(fileSource("v2", "v1"), "network"); // an upgrade: never mix two versions
  assert.equal(fileSource(null, "v1"), "cache"); // the server could not be asked: offline
  assert.equal(fileSource(undefined, "v1"), "network"); // not asked yet: take no chance
});

test("the server's version is read off its shell module, or null without an answer", async () => {
  const module = '// Written by tether/shell.py\nexport const SHELL = Object.freeze({"version":"ab12","files":["./"]});\n';
  assert.equal(versionOf(module), "ab12");
  assert.equal(versionOf("nothing here"), null);
  const ok = async (url, init) => ({ ok: init.cache === "no-store", text: async () => module });
  assert.equal(await askVersion("u", { fetch: ok }), "ab12");
  assert.equal(await askVersion("u", { fetch: async () => ({ ok: false, text: async () => module }) }), null);
  assert.equal(await askVersion("u", { fetch: async () => { throw new TypeError("offline"); } }), null);
  const clock = new FakeClock();
  const slow = askVersion("u", { fetch: () => new Promise(() => {}), timers: clock, timeoutMs: 4000 });
  clock.advance(4000);
  assert.equal(await slow, null);
});
