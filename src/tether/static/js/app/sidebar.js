// The session list: new chat (with the agent to answer it), open, rename, archive.

import { h, setData } from "./dom.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * When a chat last changed, as the sidebar says it: "now", "5 min", "3 h", "yesterday", a weekday
 * within the week, else the date. Pure (`now` in ms; `locale` for the names).
 */
export function relativeDate(iso, now, locale = undefined) {
  const at = Date.parse(iso ?? "");
  if (Number.isNaN(at)) return "";
  const ago = Math.max(0, now - at);
  if (ago < MINUTE) return "now";
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)} min`;
  const startOfToday = new Date(now).setHours(0, 0, 0, 0);
  if (at >= startOfToday) return `${Math.floor(ago / HOUR)} h`;
  if (at >= startOfToday - DAY) return "yesterday";
  const date = new Date(at);
  if (at >= startOfToday - 6 * DAY) return date.toLocaleDateString(locale, { weekday: "short" });
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString(locale, sameYear ? { day: "numeric", month: "short" }
    : { day: "numeric", month: "short", year: "numeric" });
}

export class Sidebar {
  /**
   * @param {HTMLElement} root
   * @param {{onNew: Function, onOpen: Function, onRename: Function, onArchive: Function}} actions
   */
  constructor(root, actions) {
    this.actions = actions;
    this.showArchived = false;
    this.renaming = null;
    this.agentSelect = h("select", { class: "agent-select", dataset: { testid: "agent-select" }, "aria-label": "Agent" });
    this.newButton = h("button", { type: "button", class: "primary", dataset: { testid: "new-session" } }, "+ New chat");
    this.newButton.addEventListener("click", () => actions.onNew(this.agentSelect.value || undefined));
    this.list = h("ul", { class: "session-list", dataset: { testid: "session-list" } });
    this.archivedToggle = h("button", { type: "button", class: "link archived-toggle" }, "Show archived");
    this.archivedToggle.addEventListener("click", () => {
      this.showArchived = !this.showArchived;
      this.archivedToggle.textContent = this.showArchived ? "Show active" : "Show archived";
      actions.onToggleArchived();
    });
    root.replaceChildren(
      h("div", { class: "sidebar-head" }, h("span", { class: "brand" }, "Tether"), this.newButton),
      h("div", { class: "agent-row" }, this.agentSelect),
      this.list,
      h("div", { class: "sidebar-foot" }, this.archivedToggle),
    );
  }

  /** Fill the agent choice from hello's `agents` and `default_agent`. */
  setAgents(agents = [], defaultAgent = null) {
    const names = agents.map((a) => a.name);
    const current = [...this.agentSelect.options].map((o) => o.value);
    if (names.join() !== current.join()) {
      this.agentSelect.replaceChildren(...agents.map((a) =>
        h("option", { value: a.name }, a.kind && a.kind !== a.name ? `${a.name} (${a.kind})` : a.name)));
      if (defaultAgent) this.agentSelect.value = defaultAgent;
    }
    this.agentSelect.parentElement.hidden = agents.length < 2;
  }

  render(sessions, currentId) {
    const items = new Map([...this.list.children].map((li) => [li.dataset.sessionId, li]));
    let previous = null;
    for (const session of sessions) {
      let li = items.get(session.id);
      items.delete(session.id);
      if (!li) li = this.#create(session.id);
      this.#update(li, session, session.id === currentId);
      const expected = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== li) this.list.insertBefore(li, expected);
      previous = li;
    }
    for (const li of items.values()) li.remove();
    if (sessions.length === 0) {
      this.list.replaceChildren(h("li", { class: "empty" }, this.showArchived ? "No archived chats" : "No chats yet"));
    } else {
      for (const li of [...this.list.querySelectorAll("li.empty")]) li.remove();
    }
  }

  #create(sessionId) {
    const title = h("span", { class: "title" });
    const agent = h("span", { class: "agent" });
    const running = h("span", { class: "running" }, "● answering");
    const when = h("time", { class: "when", dataset: { testid: "session-when" } });
    const preview = h("span", { class: "preview", dataset: { testid: "session-preview" } });
    const open = h("button", { type: "button", class: "open" }, title, preview,
      h("span", { class: "sub" }, agent, when), running);
    open.addEventListener("click", () => this.actions.onOpen(sessionId));
    const rename = h("button", { type: "button", class: "icon", title: "Rename", "aria-label": "Rename", dataset: { testid: "session-rename" } }, "✎");
    rename.addEventListener("click", () => this.#startRename(li));
    const archive = h("button", { type: "button", class: "icon small", dataset: { testid: "session-archive" } });
    archive.addEventListener("click", () => this.actions.onArchive(sessionId, li.dataset.archived !== "true"));
    const li = h("li", { class: "session-item", dataset: { testid: "session-item", sessionId } }, open, rename, archive);
    li.parts = { title, agent, when, preview, running, open, archive };
    return li;
  }

  #update(li, session, current) {
    setData(li, { archived: session.archived, running: session.running });
    li.classList.toggle("current", current);
    const { title, agent, when, preview, running, archive } = li.parts;
    preview.textContent = (session.preview ?? "").replace(/\s+/g, " ").trim();
    preview.hidden = !preview.textContent;
    if (this.renaming !== session.id) title.textContent = session.title || "New chat";
    agent.textContent = session.agent;
    when.textContent = relativeDate(session.updated_at, Date.now());
    when.dateTime = session.updated_at ?? "";
    running.hidden = !session.running;
    archive.textContent = session.archived ? "Restore" : "Archive";
    archive.title = session.archived ? "Unarchive" : "Archive";
    archive.setAttribute("aria-label", archive.title);
  }

  #startRename(li) {
    const sessionId = li.dataset.sessionId;
    const { title } = li.parts;
    this.renaming = sessionId;
    const input = h("input", { class: "rename-input", value: title.textContent, maxlength: "200", dataset: { testid: "session-rename-input" } });
    let done = false;
    const finish = (save) => {
      if (done) return;
      done = true;
      this.renaming = null;
      const value = input.value.trim();
      input.replaceWith(title);
      if (save && value && value !== title.textContent) {
        title.textContent = value;
        this.actions.onRename(sessionId, value);
      }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      else if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    title.replaceWith(input);
    input.focus();
    input.select();
  }
}
