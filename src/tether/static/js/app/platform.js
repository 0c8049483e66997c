// The browser behind the client library's injected environment: page lifecycle events,
// visibility, the network hint, and storage that may be disabled.

const DOCUMENT_EVENTS = new Set(["visibilitychange", "freeze", "resume"]);

/** The `env` of Connection: `{on(type, handler) -> off, visible(), online()}`. */
export function browserEnv(win = window, doc = document) {
  return {
    on(type, handler) {
      const target = DOCUMENT_EVENTS.has(type) ? doc : win;
      target.addEventListener(type, handler);
      return () => target.removeEventListener(type, handler);
    },
    visible: () => doc.visibilityState !== "hidden",
    online: () => win.navigator.onLine !== false,
  };
}

/** `window.sessionStorage` / `window.localStorage`, or null where the browser forbids them. */
export function webStorage(name) {
  try {
    const storage = window[name];
    const probe = "tether.probe";
    storage.setItem(probe, "1");
    storage.removeItem(probe);
    return storage;
  } catch {
    return null;
  }
}

/** Take `?token=...` from the address bar (kept by the client in localStorage) and remove it. */
export function takeTokenFromUrl(win = window) {
  const url = new URL(win.location.href);
  const token = url.searchParams.get("token");
  if (token === null) return null;
  url.searchParams.delete("token");
  win.history.replaceState(win.history.state, "", url.pathname + url.search + url.hash);
  return token;
}

/** The session id of `#/s/<id>`, or null. */
export function routeSessionId(win = window) {
  const match = /^#\/s\/([A-Za-z0-9-]{1,64})$/.exec(win.location.hash);
  return match ? match[1] : null;
}

/** Turn `?session=<id>` (where a notification's tap opens the app) into the `#/s/<id>` route. */
export function takeSessionFromUrl(win = window) {
  const url = new URL(win.location.href);
  const id = url.searchParams.get("session");
  if (id === null) return;
  url.searchParams.delete("session");
  const route = /^[A-Za-z0-9-]{1,64}$/.test(id) ? `#/s/${id}` : url.hash;
  win.history.replaceState(win.history.state, "", url.pathname + url.search + route);
}
