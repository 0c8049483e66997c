// Which requests the offline shell answers, and how: pure rules and one fetch strategy, with
// the worker's globals (fetch, the cache, timers) injected so that they run under `node --test`.
//
// The shell is network-first, as a whole: online, the page comes from the server (revalidated)
// and, beside it, the worker asks the server which shell version it serves. When that is this
// worker's version, the precache holds exactly the server's files (the version is a hash of
// them), so the page's files come from the cache without asking the server about each one;
// when the server has another version (an upgrade), every file comes from the network, so the
// page never mixes two versions, and the worker updates itself. When the network fails, is too
// slow, or the server answers with an error, the cached copy is served. Nothing but the shell's
// own files is ever answered or cached: not the socket (socket.io/), the API (api/), metrics,
// or anything else under the scope.

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
 * `waitUntil` keeps the worker alive for the cache update, which is done beside the answer (and
 * still after a timeout has answered from the cache). Resolves to a Response; rejects only when
 * neither the network nor the cache has one.
 */
export async function networkFirst(key, { cache, fetch, timers = globalThis, timeoutMs = NETWORK_TIMEOUT_MS,
                                          waitUntil = () => {} }) {
  // The cache is updated beside the answer, not before it: the page never waits for a write.
  const fromNetwork = fetch(key, { cache: "no-cache", credentials: "same-origin" }).then((response) => {
    if (response.ok && response.type !== "opaque") waitUntil(refresh(cache, key, response.clone()).catch(() => {}));
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

/** Store `response` unless the cached copy is the same file (the same ETag): most loads change
 *  nothing, and a write per file would cost more than the read. */
async function refresh(cache, key, response) {
  const etag = response.headers?.get("etag");
  const cached = etag ? await cache.match(key) : undefined;
  if (etag && cached?.headers?.get("etag") === etag) {
    await response.body?.cancel();
    return;
  }
  await cache.put(key, response);
}

/** The version named by the text of the server's shell module (tether/shell.py), or null. */
export function versionOf(moduleText) {
  const match = /"version"\s*:\s*"([^"]+)"/.exec(moduleText ?? "");
  return match ? match[1] : null;
}

/**
 * Where a shell file (not the page) comes from: "cache" when the server said it serves this
 * worker's version, or could not say (no network to speak of); "network" when it serves
 * another one (an upgrade), or when it was never asked (the worker started after the page).
 * `serverVersion`: a version, null (asked, no answer), undefined (not asked).
 */
export function fileSource(serverVersion, ownVersion) {
  if (serverVersion === undefined) return "network";
  return serverVersion === null || serverVersion === ownVersion ? "cache" : "network";
}

/** Ask the server for its shell version: resolves to it, or null (no answer in time). */
export async function askVersion(url, { fetch, timers = globalThis, timeoutMs = NETWORK_TIMEOUT_MS }) {
  let timer;
  const late = new Promise((resolve) => { timer = timers.setTimeout(() => resolve(null), timeoutMs); });
  const asked = fetch(url, { cache: "no-store", credentials: "same-origin" })
    .then(async (response) => (response.ok ? versionOf(await response.text()) : null))
    .catch(() => null);
  try {
    return await Promise.race([asked, late]);
  } finally {
    timers.clearTimeout(timer);
  }
}

/** The names of older shell caches (of this worker's prefix, not `current`), to delete. */
export function staleCaches(names, prefix, current) {
  return names.filter((name) => name.startsWith(prefix) && name !== current);
}
