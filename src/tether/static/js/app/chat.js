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

/** Final states of an answer that may be regenerated (the `retry` request). */
const RETRYABLE = new Set(["failed", "interrupted", "cancelled"]);
const QUOTE_CHARS = 80;

/**
 * What each message is shown with beyond itself: the quote of the question an answer replies to
 * when that question is not right above it (several queued messages put answers far from their
 * questions), and which user message is the last one (it may be edited and resent). Pure.
 */
export function messageContext(messages) {
  const byId = new Map(messages.filter((m) => m.id).map((m) => [m.id, m]));
  const lastUser = messages.findLast((m) => m.role === "user" && !m.local);
  return messages.map((m, i) => {
    const question = m.role === "assistant" && m.reply_to ? byId.get(m.reply_to) : null;
    const adjacent = question && messages[i - 1]?.id === question.id;
    const text = question && !adjacent ? question.content.replace(/\s+/g, " ").trim() : null;
    return {
      quote: text === null ? null : text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS - 1)}…` : text,
      lastUser: m === lastUser,
    };
  });
}

export class ChatView {
  /**
   * @param {HTMLElement} scroller  the scrolling container
   * @param {HTMLElement} list      the messages' parent inside it
   * @param {{onRetry: Function, onDiscard: Function, onNearTop: Function, onRegenerate: Function,
   *          onCopy: Function, onEdit: Function}} actions
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
    const context = messageContext(messages);
    for (const [index, message] of messages.entries()) {
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
      this.#update(el, message, context[index]);
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
    const quote = h("div", { class: "reply-quote", hidden: true, dataset: { testid: "reply-quote" } });
    const error = h("div", { class: "msg-error", hidden: true, dataset: { testid: "message-error" } });
    const line = h("div", { class: "status-line", hidden: true, dataset: { testid: "status-line" } });
    const status = h("span", { class: "status" });
    const time = h("time", { class: "time" });
    const button = (testid, label, className = "link") =>
      h("button", { type: "button", class: className, hidden: true, dataset: { testid } }, label);
    const retry = button("message-retry", "Retry", "link retry");
    const discard = button("message-discard", "Discard", "link discard");
    const regenerate = button("answer-retry", "Retry");
    const copy = button("answer-copy", "Copy");
    const edit = button("message-edit", "Edit & resend");
    const el = h("article", { class: "msg", dataset: { testid: "message" } },
      quote,
      h("div", { class: "bubble" }, body, line, error),
      h("div", { class: "meta" }, time, status, retry, discard, regenerate, copy, edit));
    retry.addEventListener("click", () => this.actions.onRetry(el.dataset.clientMsgId));
    discard.addEventListener("click", () => this.actions.onDiscard(el.dataset.clientMsgId));
    regenerate.addEventListener("click", () => this.actions.onRegenerate(el.dataset.messageId));
    copy.addEventListener("click", () => this.actions.onCopy(el.message?.content ?? ""));
    edit.addEventListener("click", () => this.actions.onEdit(el.message?.content ?? ""));
    el.parts = { body, quote, error, status, time, retry, discard, regenerate, copy, edit };
    el.answer = new PartsView(body, line); // used for assistant messages only
    el.rendered = null;
    return el;
  }

  /** The footer's actions and the error inside the bubble (see docs/web-client.md). */
  #updateFooter(el, m, { quote, lastUser }) {
    const { quote: quoteEl, error, regenerate, copy, edit } = el.parts;
    quoteEl.hidden = quote === null;
    quoteEl.textContent = quote === null ? "" : `↪ ${quote}`;
    const answer = m.role === "assistant";
    const problem = answer && (m.status === "failed" || m.status === "interrupted");
    error.hidden = !problem;
    error.textContent = problem
      ? `${m.status === "failed" ? "Failed" : "Interrupted"}: ${m.error || "no reason given"}` : "";
    regenerate.hidden = !(answer && m.id && RETRYABLE.has(m.status));
    copy.hidden = !(answer && m.status !== "streaming" && m.content);
    edit.hidden = !lastUser;
  }

  #update(el, m, context) {
    setData(el, {
      messageId: m.id, seq: m.seq, position: m.position, role: m.role, status: m.status,
      clientMsgId: m.client_msg_id, replyTo: m.reply_to,
    });
    el.message = m;
    // An answer's content only grows while it streams: its length, chunk count and parts tell
    // whether it changed without comparing the whole text on every delta.
    const shown = m.role === "assistant"
      ? `${m.status}|${m.displayStatus}|${m.error}|${m.seq}|${m.chunks}|${m.content.length}`
      : `${m.status}|${m.displayStatus}|${m.content}|${m.error}`;
    const signature = `${shown}|${context.quote}|${context.lastUser}`;
    if (el.rendered === signature && el.renderedParts === m.parts) return;
    el.rendered = signature;
    el.renderedParts = m.parts;
    const { body, status, time, retry, discard } = el.parts;
    if (m.role === "assistant") el.answer.render(partsOf(m));
    else body.textContent = m.content; // the user's own text, shown as typed
    this.#updateFooter(el, m, context);
    // An answer's failure is said inside its bubble (#updateFooter); the footer keeps the word.
    const label = m.displayStatus === "failed" && m.role === "assistant" ? "Failed"
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
