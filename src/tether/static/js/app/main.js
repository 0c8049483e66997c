// The chat web app: builds the TetherClient, renders its state, and turns clicks into its calls.
// The views never touch the socket.

import { ChatCache } from "../client/cache.js";
import { browserRecords } from "../client/cachedb.js";
import { CacheSync } from "../client/cachesync.js";
import { TetherClient } from "../client/client.js";
import { tabChannel } from "../client/tabs.js";
import { io } from "../../vendor/socket.io.esm.min.js";
import { ChatView } from "./chat.js";
import { CONNECTION_LABELS, StatusBanner } from "./banner.js";
import { DebugPanel } from "./debug.js";
import { Notice } from "./notice.js";
import { Notifier } from "./notify.js";
import { Sidebar } from "./sidebar.js";
import { browserEnv, routeSessionId, takeSessionFromUrl, takeTokenFromUrl, webStorage } from "./platform.js";

const $ = (selector) => document.querySelector(selector);

// Where Tether is mounted ("" or e.g. "/chat"): this module is served at
// `{prefix}/static/js/app/main.js`, so the prefix is read off its own URL (no inline script,
// which the CSP forbids, and nothing for the server to rewrite).
const BASE_PATH = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");

class App {
  constructor() {
    const linkToken = takeTokenFromUrl();
    takeSessionFromUrl();
    this.client = new TetherClient({
      url: window.location.origin,
      basePath: BASE_PATH,
      io,
      env: browserEnv(),
      tabStorage: webStorage("sessionStorage"),
      sharedStorage: webStorage("localStorage"),
      channel: tabChannel(BASE_PATH),
    });
    // A sign-in link never silently replaces the account already signed in (someone else's link
    // would have this browser type into their account): it asks first.
    /** A link's token waiting for the user to confirm the switch; null when none. */
    this.offeredToken = null;
    if (linkToken && !this.client.token) this.client.setToken(linkToken);
    else if (linkToken && linkToken !== this.client.token) this.offeredToken = linkToken;
    window.tether = this.client;
    // The chats this browser last had (IndexedDB), painted before the socket connects.
    this.cache = new CacheSync(this.client, new ChatCache({ records: browserRecords(), log: this.client.log }));
    this.client.cache = this.cache; // for diagnostics and the e2e tests: `tether.cache.flush()`
    this.sessionId = null;
    this.renderQueued = false;
    this.el = {
      app: $("#app"),
      status: $("[data-testid=connection-status]"),
      banner: $("#banner"),
      title: $("#chat-title"),
      empty: $("#empty"),
      input: $("[data-testid=composer-input]"),
      send: $("[data-testid=composer-send]"),
      stop: $("[data-testid=composer-stop]"),
      older: $("#older"),
      signin: $("#signin"),
      user: $("#signed-in"),
      switchAccount: $("#switch-account"),
      switchCurrent: $("#switch-current"),
      signinError: $("[data-testid=signin-error]"),
    };
    this.sidebar = new Sidebar($("#sidebar"), {
      onNew: (agent) => this.newSession(agent),
      onOpen: (id) => this.navigate(id),
      onRename: (id, title) => this.act("rename the chat", () => this.client.renameSession(id, title)),
      onArchive: (id, archived) => this.archive(id, archived),
      onToggleArchived: () => this.render(),
    });
    this.chat = new ChatView($("#scroller"), $("#messages"), {
      onRetry: (id) => this.client.retry(id),
      onDiscard: (id) => this.client.discard(id),
      onRegenerate: (id) => this.sessionId && this.act("retry the answer", () => this.client.retryAnswer(this.sessionId, id)),
      onCopy: (text) => this.copy(text),
      onEdit: (text) => this.editAndResend(text),
      onNearTop: () => this.loadOlder(),
    });
    this.notice = new Notice($("#notice"));
    this.banner = new StatusBanner(this.el.banner, { onRetryNow: () => this.client.retryNow() });
    this.debug = new DebugPanel($("[data-testid=debug-panel]"), this.client);
    this.notifier = new Notifier({
      button: $("[data-testid=notify-toggle]"), client: this.client, basePath: BASE_PATH,
      onOpen: (id) => this.navigate(id), storage: webStorage("localStorage"),
    });
    this.#bind();
  }

  /** The keyboard hint fits a desktop's composer; on a phone it would be clipped. */
  #placeholder() {
    const wide = matchMedia("(min-width: 800px)").matches;
    this.el.input.placeholder = wide ? "Message… (Enter to send, Shift+Enter for a new line)" : "Message…";
  }

  async start() {
    this.#placeholder();
    matchMedia("(min-width: 800px)").addEventListener("change", () => this.#placeholder());
    await this.cache.restore();
    this.client.on("change", () => this.schedule());
    this.client.on("recovered", () => this.schedule());
    // Paint what the cache holds first, then connect and merge what is new.
    this.openFromRoute();
    this.render();
    this.client.start();
    registerWorker(this.client.log);
  }

  /** Render on the next frame, or sooner if frames are not coming (a just-resumed page). */
  schedule() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    const run = () => {
      if (!this.renderQueued) return;
      this.renderQueued = false;
      this.render();
    };
    requestAnimationFrame(run);
    setTimeout(run, 50);
  }

  openFromRoute() {
    const id = routeSessionId();
    if (id) this.open(id);
    else {
      const latest = this.client.view(null).latestSessionId;
      if (latest) this.navigate(latest, { replace: true });
      else this.open(null);
    }
  }

  navigate(sessionId, { replace = false, focusInput = false } = {}) {
    const hash = sessionId ? `#/s/${sessionId}` : "#/";
    if (replace) history.replaceState(null, "", hash);
    else if (location.hash !== hash) location.hash = hash; // hashchange opens it
    this.open(sessionId);
    this.closeDrawer({ focusInput });
  }

  /** Close the phone's session drawer; focus must not stay on a button hidden inside it. */
  closeDrawer({ focusInput = false } = {}) {
    this.el.app.classList.remove("sidebar-open");
    if (focusInput && this.sessionId) this.el.input.focus();
    else if ($("#sidebar").contains(document.activeElement)) this.el.title.focus();
  }

  open(sessionId) {
    if (sessionId === this.sessionId) return;
    if (this.sessionId) this.client.unfollow(this.sessionId);
    this.sessionId = sessionId;
    if (sessionId) this.client.follow(sessionId);
    this.client.showing(sessionId);
    this.render();
    this.chat.scrollToBottom();
    if (sessionId && matchMedia("(min-width: 800px)").matches) this.el.input.focus();
  }

  async newSession(agent) {
    const session = await this.act("start a new chat", () => this.client.createSession({ agent }));
    if (session) this.navigate(session.id, { focusInput: true });
  }

  async archive(sessionId, archived) {
    const what = archived ? "archive the chat" : "restore the chat";
    const session = await this.act(what, () => this.client.archiveSession(sessionId, archived));
    if (session && archived && sessionId === this.sessionId) {
      const next = this.client.view(null).sessions.find((s) => s.id !== sessionId);
      this.navigate(next ? next.id : null);
    }
  }

  async loadOlder() {
    if (!this.sessionId || this.loadingOlder || !this.client.view(this.sessionId).hasOlder) return;
    this.loadingOlder = true;
    this.el.older.hidden = false;
    try {
      await this.client.loadOlder(this.sessionId);
    } finally {
      this.loadingOlder = false;
      this.el.older.hidden = true;
    }
  }

  sendComposer() {
    const content = this.el.input.value;
    if (!this.sessionId || !content.trim()) return;
    try {
      this.client.send(this.sessionId, content);
    } catch (error) {
      this.client.log("warn", `[App] not sent: ${error.message}`);
      return;
    }
    this.el.input.value = "";
    this.resizeInput();
    this.chat.scrollToBottom();
  }

  async copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      this.notice.show("Copied.");
    } catch (error) {
      this.notice.show(`Couldn't copy: ${error.message}`);
    }
  }

  /** Edit & resend: the last message's text goes back into the composer; sending it is a new
   *  message (the original stays: stored messages are never rewritten). */
  editAndResend(text) {
    this.el.input.value = text;
    this.resizeInput();
    this.el.input.focus();
    this.render();
  }

  resizeInput() {
    const input = this.el.input;
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }

  /**
   * Run a user's action (a request) now, or say at once that it cannot be done: while not
   * connected nothing is attempted (no change is shown that would silently revert), and a request
   * that fails says why. Resolves to the result, or null.
   */
  async act(what, run) {
    if (this.client.state !== "connected") {
      this.notice.show(`Couldn't ${what}: not connected to the server. Try again once connected.`);
      this.render(); // drop anything shown ahead of the answer (a rename typed in place)
      return null;
    }
    try {
      return await run();
    } catch (error) {
      this.client.log("warn", `[App] ${what} failed: ${error.code ?? ""} ${error.message}`);
      this.notice.show(`Couldn't ${what}: ${error.code === "unavailable" ? "the server is unavailable" : error.message}.`);
      this.render();
      return null;
    }
  }

  render() {
    const view = this.client.view(this.sessionId, { archived: this.sidebar.showArchived });
    const state = view.state;
    this.el.status.dataset.state = state;
    this.el.status.title = `Connection: ${state}`;
    this.el.status.textContent = CONNECTION_LABELS[state] ?? state;
    this.banner.render(view.status, view.pendingCount);
    this.#tickWhileWaiting(view.status);
    this.el.signin.hidden = !view.unauthorized || Boolean(this.offeredToken);
    this.el.signinError.hidden = view.signIn !== "refused";
    const userName = view.user?.name ?? "";
    this.el.user.hidden = !userName;
    this.el.user.textContent = userName;
    this.el.switchAccount.hidden = !this.offeredToken;
    if (userName) this.el.switchCurrent.textContent = userName;
    if (view.agents) this.sidebar.setAgents(view.agents, view.defaultAgent);
    this.sidebar.render(view.sessions, this.sessionId);
    this.el.title.textContent = this.sessionId ? (view.session?.title || "New chat") : "Tether";
    this.el.empty.hidden = Boolean(this.sessionId);
    this.el.input.disabled = !this.sessionId;
    this.el.send.disabled = !this.sessionId;
    this.chat.render(this.sessionId, view.messages);
    this.el.stop.hidden = !view.streaming;
    this.el.send.hidden = view.streaming && !this.el.input.value.trim();
    if (this.debug.open) this.debug.render();
  }

  /** "Next attempt in N s" counts down: render every second while a retry is scheduled. */
  #tickWhileWaiting(status) {
    const waiting = status.retryInMs !== null;
    if (waiting && !this.ticker) this.ticker = setInterval(() => this.schedule(), 1000);
    else if (!waiting && this.ticker) { clearInterval(this.ticker); this.ticker = null; }
  }

  #bind() {
    window.addEventListener("hashchange", () => this.open(routeSessionId()));
    this.el.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendComposer();
      }
    });
    this.el.input.addEventListener("input", () => { this.resizeInput(); this.render(); });
    this.el.send.addEventListener("click", () => this.sendComposer());
    this.el.stop.addEventListener("click", () => this.sessionId && this.act("stop the answer", () => this.client.cancel(this.sessionId)));
    $("#empty-new").addEventListener("click", () => this.newSession(this.sidebar.agentSelect.value || undefined));
    $("#menu").addEventListener("click", () => this.el.app.classList.toggle("sidebar-open"));
    $("#scrim").addEventListener("click", () => this.closeDrawer());
    $("[data-testid=debug-toggle]").addEventListener("click", () => this.debug.toggle());
    $("#signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("#signin-token");
      const token = input.value.trim();
      input.value = ""; // the field keeps nothing: a refused token is not left to resubmit
      if (token) this.client.setToken(token);
      this.render();
    });
    $("#switch-account-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = this.offeredToken;
      this.offeredToken = null;
      if (token) this.client.setToken(token);
      this.cache.forgetUser(); // nothing of the previous account stays, on screen or cached
      this.navigate(null, { replace: true });
      this.render();
    });
    $("#switch-account-cancel").addEventListener("click", () => {
      this.offeredToken = null;
      this.render();
    });
    // Ship what is queued before the page goes away (remote logs only when on).
    window.addEventListener("pagehide", () => { this.client.remoteLog.flush(); this.cache.flush(); });
    document.addEventListener("visibilitychange", () => document.hidden && this.cache.flush());
    this.client.on("change", ({ what }) => {
      if (what === "unauthorized" && this.sessionId) this.navigate(null, { replace: true }); // signed out
      if (what === "sessions" && !this.sessionId && !routeSessionId()) {
        const latest = this.client.view(null).latestSessionId;
        if (latest) this.navigate(latest, { replace: true });
      }
    });
  }
}

/** The service worker that opens the app offline (static/sw.js, scoped to the app). Browsers
 *  offer it only in a secure context (https, or localhost). */
function registerWorker(log) {
  if (!navigator.serviceWorker) return;
  navigator.serviceWorker.register(`${BASE_PATH}/sw.js`, { type: "module", scope: `${BASE_PATH}/` })
    .catch((error) => log("warn", `[App] no offline shell: ${error.message}`));
}

const app = new App();
app.start();
