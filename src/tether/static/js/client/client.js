// TetherClient: one tab's connection, followed sessions, session list and outbox, tied together.
// The app renders what this object holds and calls its methods; it never touches the socket.
// `window.tether` is this object (set by the app), for diagnostics.

import { accountOf, KnownUsers } from "./account.js";
import { ownerOf } from "./cacherules.js";
import { relayChanges } from "./changes.js";
import { Connection } from "./connection.js";
import { Emitter } from "./emitter.js";
import { Followers } from "./followers.js";
import { ServerHello } from "./hello.js";
import { Identity } from "./identity.js";
import { Logbook } from "./logbook.js";
import { Outbox } from "./outbox.js";
import { Presence } from "./presence.js";
import { EVENTS } from "./protocol.js";
import { RecoveryMeter } from "./recovery.js";
import { RecoveryWatch } from "./recoverywatch.js";
import { RemoteLog } from "./remotelog.js";
import { request } from "./request.js";
import { SessionList } from "./sessionlist.js";
import { SessionRequests } from "./sessionrequests.js";
import { SignIn } from "./signin.js";
import { KeyValueStore } from "./storage.js";
import { linkTabs } from "./tabs.js";
import { realTimers } from "./timers.js";
import { chatView, diagnostics, sessionMessages } from "./viewmodel.js";
import { WebPush } from "./webpush.js";

const defaultUuid = () => globalThis.crypto.randomUUID();

export class TetherClient extends Emitter {
  /**
   * `url` the server origin; `basePath` where Tether is mounted on it ("" at the top, "/chat"
   * when an app mounts it there: the socket is then at `/chat/socket.io`, the log endpoint at
   * `/chat/api/client-logs`); `io` socket.io-client's; `env` `{on, visible(), online()}`;
   * `tabStorage` sessionStorage (client_id, views, followed sessions); `sharedStorage`
   * localStorage (token, outbox, settings); `channel` a BroadcastChannel to the other tabs of
   * this Tether (tabs.js), or null.
   */
  constructor({ url, basePath = "", io, env, tabStorage = null, sharedStorage = null, timers = realTimers,
                random = Math.random, uuid = defaultUuid, fetch = globalThis.fetch?.bind(globalThis),
                logbook = new Logbook({ timers }), channel = null, options = {} }) {
    super();
    Object.assign(this, { url, timers, random, uuid, logbook });
    this.log = logbook.log;
    this.tab = new KeyValueStore(tabStorage, "tether.");
    this.shared = new KeyValueStore(sharedStorage, "tether.");
    this.identity = new Identity(this.tab, this.shared, uuid);
    this.knownUsers = new KnownUsers(this.shared);
    this.authOwner = null; // the owner (account.js) of the token of the last connection attempt
    this.signedInAs = null; // the account of the live connection (account.js), or null
    this.recovery = new RecoveryMeter();
    this.connection = new Connection({
      url, io, env, timers, random, log: this.log,
      options: { path: `${basePath}/socket.io`, ...options.connection },
      auth: () => {
        const auth = this.identity.auth();
        this.authOwner = ownerOf(auth.token);
        return auth;
      },
    });
    this.tabs = linkTabs({ channel, connection: this.connection, log: this.log });
    this.server = new ServerHello({
      connection: this.connection, shared: this.shared, ping: this.connection.ping, log: this.log,
      onReceive: (payload) => {
        this.#signedIn(payload?.user?.id);
        this.emit("change", { what: "hello" });
        this.presence.connected();
      },
    });
    this.signIn = new SignIn({
      connection: this.connection, identity: this.identity, log: this.log,
      onChange: () => this.emit("change", { what: "unauthorized" }),
    });
    this.sessions = new SessionList({ store: this.tab });
    const requests = (event, payload, attempts, again) => request(this.connection, event, payload, { attempts, timers, random, again });
    this.sessionRequests = new SessionRequests({ sessions: this.sessions, uuid, request: requests });
    this.webPush = new WebPush({ hello: () => this.hello, request: requests });
    this.outbox = new Outbox({
      connection: this.connection, store: new KeyValueStore(sharedStorage, "tether.outbox."),
      account: () => this.account, sendingAs: () => this.signedInAs, timers, uuid, random, log: this.log,
    });
    this.remoteLog = new RemoteLog({
      logbook, fetch, timers, random, endpoint: new URL(`${basePath}/api/client-logs`, url).toString(),
      token: () => this.identity.token, clientId: () => this.clientId, store: this.shared,
    });
    this.followers = new Followers({
      connection: this.connection, tab: this.tab, viewStore: new KeyValueStore(tabStorage, "tether.view."),
      timers, random, log: this.log, options: options.follower ?? {},
    });
    this.presence = new Presence({
      connection: this.connection, env, timers, log: this.log, enabled: () => Boolean(this.hello?.push),
    });
    this.recoveryWatch = new RecoveryWatch({
      connection: this.connection, followers: this.followers, meter: this.recovery, timers, log: this.log,
      onRecovered: (done) => { this.emit("recovered", done); this.emit("change", { what: "debug" }); },
    });
    this.#wire();
    this.followers.restore();
    this.remoteLog.restore();
  }

  start() {
    this.log("info", `[Client] start client_id=${this.clientId} url=${this.url}`);
    this.connection.start();
  }

  stop() {
    this.connection.stop();
    this.followers.closeAll();
  }

  get state() { return this.connection.state; }
  get clientId() { return this.identity.clientId; }
  get token() { return this.identity.token; }
  get hello() { return this.server.payload; } // the server's last `hello` (hello.js), or null
  get signInRefused() { return this.signIn.refused; } // the server refused the token we had
  /** The account this tab acts for (account.js): its token's, with the user id last seen for it. */
  get account() { return accountOf(this.identity.token, this.knownUsers); }

  /** Sign in with a bearer token (kept in localStorage) and reconnect with it. */
  setToken(token) {
    this.identity.setToken(token);
    this.connection.reauthenticate();
  }

  setRemoteLogs(enabled) {
    this.remoteLog.switchTo(enabled);
    this.emit("change", { what: "debug" });
  }

  /** Follow a session: subscribe now (if connected) and after every reconnect. */
  follow(sessionId) { return this.followers.follow(sessionId); }
  unfollow(sessionId) { this.followers.unfollow(sessionId); }

  /** Create a session; retried with the same id (creation is idempotent by id) when unanswered. */
  createSession(options) { return this.sessionRequests.create(options); }
  renameSession(sessionId, title) { return this.sessionRequests.update(sessionId, { title }); }
  archiveSession(sessionId, archived = true) { return this.sessionRequests.update(sessionId, { archived }); }
  refreshSessions() { return this.sessionRequests.refresh(); }

  /** Queue a message (stored, then sent; re-sent until acknowledged). Returns the outbox entry. */
  send(sessionId, content) {
    this.server.checkMessage(content); // throws for an empty or too long message (hello.js)
    return this.outbox.add(sessionId, content);
  }

  retry(clientMsgId) { this.outbox.retry(clientMsgId); }
  discard(clientMsgId) { this.outbox.discard(clientMsgId); }

  /** Cancel the session's run (resolves to whether one was); regenerate: ask for a new answer to
   *  the question of answer `messageId`, the old one kept (resolves to whether it was queued;
   *  false: a newer answer exists already). */
  cancel(sessionId) {
    // Repeated after a dead socket only while the answer it was pressed for still streams here:
    // cancel names a session, not an answer, and the next answer may have started meanwhile.
    const pressed = this.#streamingAnswer(sessionId);
    return this.sessionRequests.cancel(sessionId, () => this.#streamingAnswer(sessionId) === pressed);
  }
  retryAnswer(sessionId, messageId) { return this.sessionRequests.retryAnswer(sessionId, messageId); }

  /** The chat this tab shows (for presence: no push for what the user is looking at). */
  showing(sessionId) { this.presence.show(sessionId); }

  /** The server's VAPID public key when it offers Web Push (hello.push), else null. */
  get pushKey() { return this.webPush.key; }

  /** Store this browser's push subscription (`PushSubscription.toJSON()`) for the user (webpush.js). */
  pushSubscribe(subscription, device) { return this.webPush.subscribe(subscription, device); }
  pushUnsubscribe(endpoint) { return this.webPush.unsubscribe(endpoint); }

  loadOlder(sessionId) { return this.followers.loadOlder(sessionId); }

  /** What to show for a session, in order (see viewmodel.js). */
  messagesFor(sessionId) { return sessionMessages(this, sessionId); }

  /** What the chat screen shows, and everything the debug panel shows (see viewmodel.js). */
  view(sessionId, options) { return chatView(this, sessionId, options); }
  diagnostics() { return diagnostics(this); }

  /** Skip the wait before the next connection attempt (the status banner's "Retry now"). */
  retryNow() { this.connection.retryNow(); }

  /** Close the transport and build a new connection at once (the debug panel's button). */
  reconnectNow(reason = "manual") { this.connection.reconnectNow(reason); }

  /** The id of the session's answer that is streaming as this tab sees it, or null. */
  #streamingAnswer(sessionId) {
    const messages = this.followers.get(sessionId)?.messages ?? [];
    return messages.findLast((m) => m.role === "assistant" && m.status === "streaming")?.id ?? null;
  }

  #wire() {
    const c = this.connection;
    c.on("event", (name, payload) => this.#onServerEvent(name, payload));
    c.on("connect", (connect) => {
      // Signed in with the token of the attempt that connected; its user id once hello says.
      this.signedInAs = { owner: this.authOwner, user: this.knownUsers.user(this.authOwner) };
      this.recoveryWatch.connected(connect);
      this.followers.subscribeAll("connect");
      this.refreshSessions().catch((error) => this.log("warn", `[Client] list_sessions: ${error.message}`));
      this.outbox.flush();
      this.recoveryWatch.check();
    });
    c.on("disconnect", () => { this.signedInAs = null; this.followers.disconnected(); });
    this.outbox.on("sent", ({ message }) => { if (message) this.followers.applyOwnMessage(message); });
    relayChanges(this); // after the above: a disconnect's change is told once the followers know
  }

  /** The server's hello named the connection's user: remember it for the token, tag and send. */
  #signedIn(userId) {
    if (!this.signedInAs || typeof userId !== "string") return;
    this.knownUsers.remember(this.signedInAs.owner, userId);
    this.signedInAs = { owner: this.signedInAs.owner, user: userId };
    this.outbox.signedIn();
  }

  /** A server event (a `hello` is hello.js's): the session list, the followers, the notifier. */
  #onServerEvent(name, payload) {
    if (name === EVENTS.SESSION) this.sessions.upsert(payload?.session);
    this.followers.route(name, payload);
    // A live change of a message (the notifier watches for answers that end).
    if (name === EVENTS.MESSAGE && payload?.message) this.emit("message", payload.message);
  }
}
