// The offline shell: the app opens without a network. At install the worker precaches every
// shell file (the list and version come from shell.js, which the server writes) in a cache named
// by the version; at activate it deletes older versions' caches and takes over open pages; then
// it answers shell requests network-first (strategy.js) and leaves every other request alone.

import { SHELL } from "./shell.js";
import { askVersion, fileSource, networkFirst, shellKey, shellUrls, staleCaches } from "./strategy.js";

const PREFIX = "tether-shell-";
const CACHE = PREFIX + SHELL.version;
const scope = () => self.registration.scope;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(shellUrls(scope(), SHELL.files).map((url) => new Request(url, { cache: "no-cache" })));
    // The shell is network-first, so an open page loses nothing when this version takes over.
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    await Promise.all(staleCaches(await caches.keys(), PREFIX, CACHE).map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

/** The shell version the server serves, as asked at the last navigation (see fileSource). */
let serverVersion = Promise.resolve(undefined);

self.addEventListener("fetch", (event) => {
  const key = shellKey(event.request, scope(), SHELL.files);
  if (key === null) return;
  const fromNetwork = async () => networkFirst(key, {
    cache: await caches.open(CACHE), fetch: (...args) => fetch(...args),
    waitUntil: (promise) => event.waitUntil(promise),
  });
  if (event.request.mode === "navigate") {
    serverVersion = askVersion(new URL("static/js/sw/shell.js", scope()).href, { fetch: (...args) => fetch(...args) })
      .then((version) => {
        if (version && version !== SHELL.version) self.registration.update().catch(() => {});
        return version;
      });
    event.waitUntil(serverVersion);
    event.respondWith(fromNetwork());
    return;
  }
  event.respondWith((async () => {
    if (fileSource(await serverVersion, SHELL.version) === "cache") {
      const cached = await (await caches.open(CACHE)).match(key);
      if (cached) return cached;
    }
    return fromNetwork();
  })());
});
