// What the app shows, read from the client in one place: the app renders these plain objects and
// never reaches into followers, the outbox or the connection itself.

import { connectionStatus } from "./status.js";

/**
 * A session's messages in screen order: the server's (with `displayStatus`), then the outbox
 * entries the server has not acknowledged yet (displayStatus pending or failed). Pure.
 */
export function displayMessages(sessionId, serverMessages, outboxEntries) {
  const messages = serverMessages.map((m) => ({
    ...m, local: false,
    displayStatus: m.role === "user" && m.status === "complete" ? "sent" : m.status,
  }));
  const known = new Set(messages.map((m) => m.client_msg_id).filter(Boolean));
  const local = outboxEntries
    .filter((entry) => !known.has(entry.client_msg_id))
    .map((entry) => ({
      id: null, session_id: sessionId, client_msg_id: entry.client_msg_id, role: "user",
      content: entry.content, status: entry.state, displayStatus: entry.state, seq: null,
      position: null, chunks: 0, error: entry.error?.message ?? null, local: true,
    }));
  return messages.concat(local);
}

/** What to show for a followed session: its messages, then the unacknowledged sends. */
export function sessionMessages(client, sessionId) {
  const messages = client.followers.get(sessionId)?.messages ?? [];
  return displayMessages(sessionId, messages, client.outbox.entriesFor(sessionId));
}

/**
 * The chat screen: connection state, sign-in, the session list, and the open session's messages.
 * @param {import("./client.js").TetherClient} client
 */
export function chatView(client, sessionId, { archived = false } = {}) {
  const session = sessionId ? client.sessions.get(sessionId) : null;
  const messages = sessionId ? sessionMessages(client, sessionId) : [];
  const follower = sessionId ? client.followers.get(sessionId) : null;
  const known = client.hello ? null : client.shared.get("agents");
  return {
    state: client.connection.state,
    status: statusOf(client),
    unauthorized: client.connection.unauthorized,
    user: client.hello?.user ?? null, // who is signed in, from the server's hello
    // Why the sign-in dialog is up: "refused" (the token we had was refused) or "required".
    signIn: client.connection.unauthorized ? (client.signInRefused ? "refused" : "required") : null,
    pendingCount: client.outbox.entries.filter((e) => e.state === "pending").length,
    // The server's hello, else the agents the last hello named (kept in storage), else null.
    agents: client.hello ? client.hello.agents ?? [] : known?.agents ?? null,
    defaultAgent: client.hello ? client.hello.default_agent ?? null : known?.default_agent ?? null,
    sessions: withPreview(client.sessions.ordered({ archived }), sessionId, messages),
    latestSessionId: client.sessions.ordered()[0]?.id ?? null,
    session,
    messages,
    hasOlder: Boolean(follower?.view.hasOlder),
    streaming: messages.some((m) => m.status === "streaming") || Boolean(session?.running),
  };
}

/** Characters of a message a preview shows: the server's `list_sessions` gives the same. */
export const PREVIEW_CHARS = 120;

/** The open session's preview is the start of its last message as this tab has it
 *  (list_sessions' preview is as of the last list), cut as the server cuts it: the sidebar
 *  must not carry a whole streaming answer, which Blink would lay out again on every delta.
 *  Pure. */
export function withPreview(sessions, sessionId, messages) {
  const last = messages.at(-1);
  if (!last?.content) return sessions;
  const preview = last.content.slice(0, PREVIEW_CHARS);
  return sessions.map((s) => (s.id === sessionId ? { ...s, preview } : s));
}

/** What the status line says (see status.js). */
export function statusOf(client) {
  const c = client.connection;
  return connectionStatus({
    state: c.state, unauthorized: c.unauthorized, online: c.env.online(), failures: c.stats.failures,
    unreachableAfter: c.options.offlineAfterFailures, nextAttemptAt: c.nextAttemptAt,
    storageDown: c.storageDown, now: client.timers.now(),
  });
}

/** Everything the debug panel shows (and the end-to-end tests read). */
export function diagnostics(client) {
  const c = client.connection;
  const recovery = client.recovery;
  return {
    state: c.state, since: c.since, transport: c.transport, sid: c.sid, clientId: client.clientId,
    rttMs: c.stats.rttMs, reconnects: c.stats.reconnects, zombies: c.stats.zombies,
    lastConnectMs: c.stats.lastConnectMs, lastRecoveryMs: recovery.lastMs,
    lastRecoveryReason: recovery.lastReason, transitions: c.transitions.slice(-10),
    // The liveness settings in force: the server's ping settings (from hello) and what follows.
    pingInterval: c.ping.pingInterval, pingTimeout: c.ping.pingTimeout, pingFromServer: c.ping.fromServer,
    serverTimeout: c.ping.serverTimeout, silenceLimit: c.liveness.silenceLimit, raceAfter: c.ping.raceAfter,
    races: { ...c.stats.races }, // wake-up races won by the fresh connection / by the old one
    probeTimeout: c.liveness.heartbeat.timeout,
    followers: [...client.followers.values()].map((f) => ({
      sessionId: f.sessionId, state: f.state, lastSeq: f.lastSeq, epoch: f.epoch, lastSync: f.lastSync,
    })),
    outbox: client.outbox.entries.length, remoteLogs: client.remoteLog.enabled, remoteStats: client.remoteLog.stats,
  };
}
