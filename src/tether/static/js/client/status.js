// What the connection status line says, decided in one pure function from facts the client holds.
// The connection's state machine only knows connected / connecting / offline; the user needs to
// know *why* they are not connected, because each reason asks something different of them:
// wait for the network (offline), wait or press "Retry now" (the server cannot be reached), sign in
// again (the token was refused), or nothing at all (the server is up but its database is not, and
// it retries by itself). Saying "You're offline" while the browser is online is the bug this fixes.

export const STATUS = Object.freeze({
  CONNECTED: "connected",
  CONNECTING: "connecting", // a first attempt, or a short wait after a drop
  OFFLINE: "offline", // the browser says there is no network
  UNREACHABLE: "unreachable", // the network is up, the server keeps failing; retrying on a schedule
  SIGNED_OUT: "signed_out", // the server refused the token (or needs one): no retry until sign-in
  UNAVAILABLE: "unavailable", // connected, but the server answers `unavailable` (storage down)
});

/**
 * The status to show. Pure.
 * @param {object} facts
 * @param {string} facts.state            the connection state (connected | connecting | offline)
 * @param {boolean} facts.unauthorized    the last attempt was refused with `unauthorized`
 * @param {boolean} facts.online          navigator.onLine
 * @param {number} facts.failures         failed attempts in a row
 * @param {number} facts.unreachableAfter failures after which the server counts as unreachable
 * @param {number|null} facts.nextAttemptAt when the next scheduled attempt fires (ms), or null
 * @param {boolean} facts.storageDown     the last request that needs storage was answered `unavailable`
 * @param {number} facts.now
 * @returns {{kind: string, retryInMs: number|null}}
 */
export function connectionStatus({ state, unauthorized, online, failures, unreachableAfter,
                                   nextAttemptAt, storageDown, now }) {
  const retryInMs = nextAttemptAt === null ? null : Math.max(0, nextAttemptAt - now);
  if (unauthorized) return { kind: STATUS.SIGNED_OUT, retryInMs: null };
  if (state === "connected") return { kind: storageDown ? STATUS.UNAVAILABLE : STATUS.CONNECTED, retryInMs: null };
  if (!online) return { kind: STATUS.OFFLINE, retryInMs: null };
  if (failures >= unreachableAfter) return { kind: STATUS.UNREACHABLE, retryInMs };
  return { kind: STATUS.CONNECTING, retryInMs };
}
