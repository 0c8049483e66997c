// When the app re-reads the client (viewmodel.js): the parts' changes relayed as the TetherClient's
// `change` events, each saying `what` changed ("connection", "debug", "outbox", "sessions", or a
// follower's own `{what: "messages" | "gone", sessionId}`), so a view re-renders only its part.
// The client's own changes ("hello", "unauthorized", a recovery's "debug") it emits itself.

/** Relay the changes of `client`'s connection, outbox, session list and followers. */
export function relayChanges(client) {
  const changed = (what) => () => client.emit("change", { what });
  client.connection.on("state", changed("connection"));
  client.connection.on("stats", changed("debug"));
  client.connection.on("disconnect", changed("connection"));
  client.outbox.on("change", changed("outbox"));
  client.sessions.on("change", changed("sessions"));
  client.followers.on("change", (change) => client.emit("change", change));
}
