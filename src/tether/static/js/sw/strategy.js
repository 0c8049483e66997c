// Which requests the offline shell answers, and how: pure rules and one fetch strategy, with
// the worker's globals (fetch, the cache, timers) injected so that they run under `node --test`.
//
// The shell is network-first: online, every shell file comes from the server (revalidated, so
// an upgraded server is seen at once, never an old app kept by a cache) and the copy in the
// cache is refreshed; when the network fails, is too slow, or the server answers with an error,
// the cached copy is served. Nothing but the shell's own files is ever answered or cached: not
// the socket (socket.io/), the API (api/), metrics, or anything else under the scope.

/** Paths under the scope that are never the shell's, whatever the shell lists. */
const NEVER = ["socket.io/", "api/"];

/** How long a shell request waits for the network before the cached copy is served. */
export const NETWORK_TIMEOUT_MS = 4000;

/**
 * The cache key of a request the shell answers, or null to leave it to the network.
 * `request` is `{method, url, mode}`; `scope` the worker's scope URL; `files` the shell's files
 * relative to the scope ("./" is the page). A navigation to the page, with any query (a sign-in
 * link's `?token=`), is keyed by the bare page URL: no token ever becomes a cache key.
 */
export function shellKey(request, scope, files) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  const base = new URL(scope);
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return null;
  const relative = url.pathname.slice(base.pathname.length);
  if (NEVER.some((prefix) => relative.startsWith(prefix))) return null;
  if (request.mode === "navigate") return relative === "" || relative === "index.html" ? base.href : null;
  if (url.search) return null;
  const key = url.origin + url.pathname;
  return files.some((file) => new URL(file, base).href === key) ? key : null;
}

/** The shell's files as absolute URLs under `scope`. */
export function shellUrls(scope, files) {
  return files.map((file) => new URL(file, scope).href);
}

/**
 * Network first, then the cache. `cache` is a Cache (`match`, `put`); `fetch` the worker's;
 * `waitUntil` keeps the worker alive for the cache update after a timeout has answered from the
 * cache. Resolves to a Response; rejects only when neither the network nor the cache has one.
 */
export async function networkFirst(key, { cache, fetch, timers = globalThis, timeoutMs = NETWORK_TIMEOUT_MS,
                                          waitUntil = () => {} }) {
  const fromNetwork = fetch(key, { cache: "no-cache", credentials: "same-origin" }).then(async (response) => {
    if (response.ok && response.type !== "opaque") await cache.put(key, response.clone());
    return response;
  });
  waitUntil(fromNetwork.catch(() => {}));
  let timer;
  const late = new Promise((resolve) => { timer = timers.setTimeout(() => resolve(null), timeoutMs); });
  try {
    const response = await Promise.race([fromNetwork, late]);
    if (response?.ok) return response;
    const cached = await cache.match(key);
    if (cached) return cached;
    return response ?? await fromNetwork; // nothing cached: wait for the network after all
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw error;
  } finally {
    timers.clearTimeout(timer);
  }
}

/** The names of older shell caches (of this worker's prefix, not `current`), to delete. */
export function staleCaches(names, prefix, current) {
  return names.filter((name) => name.startsWith(prefix) && name !== current);
}
