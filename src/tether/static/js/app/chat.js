// The messages of the open session. Renders what the client holds, keyed by message id (exactly
// one element per id), and re-renders a message only when it changed.

import { h, setData, formatTime } from "./dom.js";
import { partsOf } from "../client/parts.js";
import { PartsView } from "./parts.js";

const STATUS_LABELS = {
  pending: "Sending…",
  sent: "Sent",
  failed: "Not sent",
  streaming: "",
  cancelled: "Stopped",
  interrupted: "Interrupted",
};

const keyOf = (m) => (m.id ? `id:${m.id}` : `local:${m.client_msg_id}`);

export class ChatView {
  /**
   * @param {HTMLElement} scroller  the scrolling container
   * @param {HTMLElement} list      the messages' parent inside it
   * @param {{onRetry: Function, onDiscard: Function, onNearTop: Function}} actions
   */
  constructor(scroller, list, actions) {
    this.scroller = scroller;
    this.list = list;
    this.actions = actions;
    this.elements = new Map(); // key -> element
    this.sessionId = null;
    scroller.addEventListener("scroll", () => {
      if (scroller.scrollTop < 120) actions.onNearTop();
    }, { passive: true });
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Render `messages` (in order) of `sessionId`. */
  render(sessionId, messages) {
    if (sessionId !== this.sessionId) {
      this.list.replaceChildren();
      this.elements.clear();
      this.sessionId = sessionId;
    }
    const stick = this.nearBottom();
    const before = { height: this.scroller.scrollHeight, top: this.scroller.scrollTop };
    const firstKey = this.list.firstElementChild?.dataset.key;
    const keys = new Set();
    let previous = null;
    for (const message of messages) {
      const key = keyOf(message);
      keys.add(key);
      let el = this.elements.get(key);
      const localKey = message.client_msg_id ? `local:${message.client_msg_id}` : null;
      if (!el && message.id && localKey && this.elements.has(localKey)) {
        // The server acknowledged a pending message: the same element becomes the server's.
        el = this.elements.get(localKey);
        this.elements.delete(localKey);
      }
      if (!el) el = this.#create();
      this.elements.set(key, el);
      el.dataset.key = key;
      this.#update(el, message);
      const expected = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== el) this.list.insertBefore(el, expected);
      previous = el;
    }
    for (const [key, el] of this.elements) {
      if (!keys.has(key)) {
        el.remove();
        this.elements.delete(key);
      }
    }
    if (stick) this.scrollToBottom();
    else if (firstKey && this.list.firstElementChild?.dataset.key !== firstKey) {
      // Older messages were added above: keep what the reader was looking at in place.
      this.scroller.scrollTop = before.top + (this.scroller.scrollHeight - before.height);
    }
  }

  #create() {
    const body = h("div", { class: "body" });
    const line = h("div", { class: "status-line", hidden: true, dataset: { testid: "status-line" } });
    const status = h("span", { class: "status" });
    const time = h("time", { class: "time" });
    const retry = h("button", { type: "button", class: "link retry", hidden: true, dataset: { testid: "message-retry" } }, "Retry");
    const discard = h("button", { type: "button", class: "link discard", hidden: true, dataset: { testid: "message-discard" } }, "Discard");
    const el = h("article", { class: "msg", dataset: { testid: "message" } },
      h("div", { class: "bubble" }, body, line),
      h("div", { class: "meta" }, time, status, retry, discard));
    retry.addEventListener("click", () => this.actions.onRetry(el.dataset.clientMsgId));
    discard.addEventListener("click", () => this.actions.onDiscard(el.dataset.clientMsgId));
    el.parts = { body, status, time, retry, discard };
    el.answer = new PartsView(body, line); // used for assistant messages only
    el.rendered = null;
    return el;
  }

  #update(el, m) {
    setData(el, {
      messageId: m.id, seq: m.seq, position: m.position, role: m.role, status: m.status,
      clientMsgId: m.client_msg_id,
    });
    // An answer's content only grows while it streams: its length, chunk count and parts tell
    // whether it changed without comparing the whole text on every delta.
    const signature = m.role === "assistant"
      ? `${m.status}|${m.displayStatus}|${m.error}|${m.seq}|${m.chunks}|${m.content.length}`
      : `${m.status}|${m.displayStatus}|${m.content}|${m.error}`;
    if (el.rendered === signature && el.renderedParts === m.parts) return;
    el.rendered = signature;
    el.renderedParts = m.parts;
    const { body, status, time, retry, discard } = el.parts;
    if (m.role === "assistant") el.answer.render(partsOf(m));
    else body.textContent = m.content; // the user's own text, shown as typed
    const label = m.displayStatus === "failed" && m.role === "assistant"
      ? `Failed${m.error ? `: ${m.error}` : ""}`
      : m.displayStatus === "failed" && m.error ? `Not sent: ${m.error}` : STATUS_LABELS[m.displayStatus] ?? "";
    status.textContent = label;
    status.className = `status status-${m.displayStatus}`;
    time.textContent = formatTime(m.created_at);
    const failedLocal = m.local && m.displayStatus === "failed";
    retry.hidden = !failedLocal;
    // A pending entry can be given up too: the outbox sends in order, so one that never gets
    // through would hold back every later message, across reloads.
    discard.hidden = !(m.local && (failedLocal || m.displayStatus === "pending"));
  }
}
