// The wire contract of PROTOCOL.md, mirrored from src/tether/protocol.py (a test checks they agree).
// No I/O here: names and codes only.

/** Protocol version spoken by this client (hello.protocol). */
export const PROTOCOL_VERSION = 1;

/** Event names, both directions. */
export const EVENTS = Object.freeze({
  // server to client
  HELLO: "hello",
  MESSAGE: "message",
  DELTA: "delta",
  SESSION: "session",
  RESYNC: "resync",
  // client to server (requests, always acknowledged)
  CREATE_SESSION: "create_session",
  LIST_SESSIONS: "list_sessions",
  UPDATE_SESSION: "update_session",
  SUBSCRIBE: "subscribe",
  UNSUBSCRIBE: "unsubscribe",
  SEND: "send",
  CANCEL: "cancel",
  RETRY: "retry",
  HISTORY: "history",
  HEARTBEAT: "heartbeat",
  // notifications (docs/protocol.md, "Web Push")
  PUSH_SUBSCRIBE: "push_subscribe",
  PUSH_UNSUBSCRIBE: "push_unsubscribe",
  PRESENCE: "presence",
});

/** Events the server emits; the connection forwards exactly these. */
export const SERVER_EVENTS = Object.freeze([
  EVENTS.HELLO, EVENTS.MESSAGE, EVENTS.DELTA, EVENTS.SESSION, EVENTS.RESYNC,
]);

/** The `error.code` of a failed acknowledgement. */
export const ERROR_CODES = Object.freeze([
  "invalid",
  "not_found",
  "too_large",
  "rate_limited",
  "conflict",
  "unavailable",
  "internal",
]);

/** The `message` of a refused connection's `connect_error`. */
export const CONNECT_ERRORS = Object.freeze({ UNAUTHORIZED: "unauthorized", INVALID: "invalid" });

/** A tab's client_id: 1 to 64 of [A-Za-z0-9_-]. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
