// Notifications: an answer that ends (complete, failed, interrupted) while the page is hidden is
// announced, by the Notification API while the page lives and by Web Push (the service worker's
// js/sw/push.js) when it was frozen or killed. Opt-in only: permission is asked when the user
// presses the bell, never on load. Both kinds carry the tag `answer-<message id>`, so the same
// answer announced by both shows once.

const ENDED = new Set(["complete", "failed", "interrupted"]);
const BODY_CHARS = 140;
const SETTING = "tether.notifications"; // localStorage: "on" once the user turned them on

/** One line for an ended answer (the server's tether.push.payload says the same). */
export function notificationBody(message) {
  const text = (message.content ?? "").split(/\s+/).filter(Boolean).join(" ");
  let line;
  if (message.status === "failed") line = `Failed: ${message.error || "the agent failed"}`;
  else if (message.status === "interrupted") line = text ? `Interrupted: ${text}` : "The answer was interrupted.";
  else line = text || "Answered.";
  return line.length <= BODY_CHARS ? line : `${line.slice(0, BODY_CHARS - 1)}…`;
}

/** Whether this change of a message ends an answer worth announcing. */
export function endsAnswer(message) {
  return message?.role === "assistant" && ENDED.has(message.status);
}

/** The base64url VAPID key as the `applicationServerKey` PushManager takes. */
function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const SVG = "http://www.w3.org/2000/svg";

/** A bell, struck through when off (drawn, not an emoji: not every system has their font). */
function bellIcon(doc, on) {
  const svg = doc.createElementNS(SVG, "svg");
  for (const [name, value] of Object.entries({ viewBox: "0 0 24 24", width: "18", height: "18", fill: "none",
    stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "aria-hidden": "true" })) {
    svg.setAttribute(name, value);
  }
  const lines = ["M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9", "M13.7 21a2 2 0 0 1-3.4 0"];
  if (!on) lines.push("M2 2l20 20");
  for (const d of lines) {
    const path = doc.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

export class Notifier {
  /**
   * `button` the bell (its label and data-state show the state); `client` the TetherClient;
   * `basePath` where the app is mounted; `onOpen(sessionId)` opens a chat; `storage`
   * localStorage or null.
   */
  constructor({ button, client, basePath, onOpen, storage, win = window, doc = document }) {
    Object.assign(this, { button, client, basePath, onOpen, storage, win, doc });
    this.registration = null; // the service worker's, once push is set up
    this.pushProblem = null;
    this.shown = new Set(); // message ids announced by this page
    this.supported = "Notification" in win;
    button.addEventListener("click", () => this.toggle());
    client.on("message", (message) => this.#onMessage(message));
    client.on("change", ({ what }) => { if (what === "hello" && this.enabled) this.#setUpPush(); });
    win.navigator.serviceWorker?.addEventListener("message", (event) => {
      if (event.data?.type === "tether.open-session" && event.data.session_id) this.onOpen(event.data.session_id);
    });
    // Allowed or blocked in the browser's settings meanwhile: show it.
    win.navigator.permissions?.query({ name: "notifications" })
      .then((status) => { status.onchange = () => this.render(); }).catch(() => {});
    this.render();
  }

  /** "unsupported", "denied" (blocked in the browser), "on", or "off". */
  get state() {
    if (!this.supported) return "unsupported";
    const permission = this.win.Notification.permission;
    if (permission === "denied") return "denied";
    return this.enabled && permission === "granted" ? "on" : "off";
  }

  get enabled() { return this.storage?.getItem(SETTING) === "on"; }

  async toggle() {
    if (this.state === "on") {
      this.storage?.removeItem(SETTING);
      await this.#tearDownPush();
    } else if (this.state === "off") {
      // Asked here only: the user pressed the bell.
      const permission = await this.win.Notification.requestPermission();
      if (permission === "granted") {
        this.storage?.setItem(SETTING, "on");
        await this.#setUpPush();
      }
    }
    this.render();
  }

  render() {
    const state = this.state;
    const labels = {
      unsupported: "Notifications are not supported by this browser",
      denied: "Notifications are blocked for this site in the browser's settings",
      on: this.pushProblem ? `Notifications on (this page only: ${this.pushProblem})` : "Notifications on: press to turn off",
      off: "Notifications off: press to be told when an answer ends while this page is hidden",
    };
    this.button.dataset.state = state;
    this.button.replaceChildren(bellIcon(this.doc, state === "on"));
    this.button.title = labels[state];
    this.button.setAttribute("aria-label", labels[state]);
    this.button.setAttribute("aria-pressed", String(state === "on"));
    this.button.disabled = state === "unsupported" || state === "denied";
  }

  #onMessage(message) {
    if (!endsAnswer(message) || this.state !== "on" || this.doc.visibilityState !== "hidden") return;
    if (this.shown.has(message.id)) return;
    this.shown.add(message.id);
    const session = this.client.view(null).sessions.find((s) => s.id === message.session_id);
    const title = session?.title || "Tether";
    const options = { body: notificationBody(message), tag: `answer-${message.id}`, data: { session_id: message.session_id } };
    if (this.registration) {
      // Push may announce it too: the same registration and tag show it once.
      this.registration.showNotification(title, options).catch((error) => this.client.log("warn", `[Notify] ${error.message}`));
      return;
    }
    const notification = new this.win.Notification(title, options);
    notification.onclick = () => {
      this.win.focus();
      this.onOpen(message.session_id);
      notification.close();
    };
  }

  /** Subscribe this browser to the server's pushes (when it offers them) and register it. */
  async #setUpPush() {
    const key = this.client.pushKey;
    const sw = this.win.navigator.serviceWorker;
    if (!key || !sw || !("PushManager" in this.win)) return;
    try {
      const registration = await sw.register(`${this.basePath}/sw.js`, { type: "module", scope: `${this.basePath}/` });
      await sw.ready;
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && !this.#sameKey(subscription, key)) {
        await subscription.unsubscribe(); // the server's key changed: that one cannot be pushed to
        subscription = null;
      }
      subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      await this.client.pushSubscribe(subscription.toJSON(), this.#deviceName());
      this.registration = registration;
      this.pushProblem = null;
    } catch (error) {
      this.pushProblem = error.message || String(error);
      this.client.log("warn", `[Notify] push not set up: ${this.pushProblem}`);
    }
    this.render();
  }

  async #tearDownPush() {
    // Turned off before push was set up on this page load: the subscription may still exist.
    const registration = this.registration
      ?? await this.win.navigator.serviceWorker?.getRegistration(`${this.basePath}/`).catch(() => null);
    this.registration = null;
    this.pushProblem = null;
    const subscription = await registration?.pushManager?.getSubscription();
    if (!subscription) return;
    try {
      await this.client.pushUnsubscribe(subscription.endpoint);
    } catch (error) {
      this.client.log("warn", `[Notify] push_unsubscribe: ${error.message}`);
    }
    await subscription.unsubscribe();
  }

  #sameKey(subscription, key) {
    const current = subscription.options?.applicationServerKey;
    if (!current) return true;
    const bytes = new Uint8Array(current);
    const wanted = keyBytes(key);
    return bytes.length === wanted.length && bytes.every((b, i) => b === wanted[i]);
  }

  #deviceName() {
    const ua = this.win.navigator.userAgentData;
    return (ua?.platform || this.win.navigator.platform || "browser").slice(0, 100);
  }
}
