// The service worker's Web Push side (imported by sw.js): a push from the server announces an
// answer that ended while no tab of the user was looking (docs/protocol.md, "Web Push"); a tap
// on it opens that chat: an open tab of the app is focused and told to open it, else a new
// window opens <prefix>/?session=ID.

const FALLBACK = { title: "Tether", body: "An answer is ready." };

/** Show the notification of one push payload (JSON, as tether.push.payload makes it). */
export async function showPush(payload) {
  const valid = payload && payload.type === "answer" && typeof payload.session_id === "string";
  if (!valid) {
    // A push must show something (userVisibleOnly); one we cannot read still says so.
    return self.registration.showNotification(FALLBACK.title, { body: FALLBACK.body });
  }
  return self.registration.showNotification(payload.title || FALLBACK.title, {
    body: payload.body || FALLBACK.body,
    tag: `answer-${payload.message_id}`,
    data: { session_id: payload.session_id },
  });
}

/** Focus a window of the app and have it open `sessionId`, or open one at that chat. */
export async function openChat(sessionId) {
  const scope = new URL(self.registration.scope);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname.startsWith(scope.pathname));
  if (open) {
    open.postMessage({ type: "tether.open-session", session_id: sessionId });
    try {
      return await open.focus();
    } catch {
      return open; // focusing needs the tap's user activation; the chat is open all the same
    }
  }
  const url = new URL(sessionId ? `./?session=${encodeURIComponent(sessionId)}` : "./", scope);
  return self.clients.openWindow(url.href);
}

function readPayload(data) {
  try {
    return data ? data.json() : null;
  } catch {
    return null;
  }
}

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(readPayload(event.data)));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const opened = openChat(event.notification.data?.session_id ?? null);
  if (event.isTrusted) event.waitUntil(opened); // (a test's synthetic click cannot extend)
});
