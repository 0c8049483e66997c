// The parts of an assistant's answer on screen: text as markdown (incremental), reasoning dimmed
// and collapsible, tool calls as compact cards, and the status line under the answer while it
// streams. One element per part id, updated only when its part changed, so a delta touches the
// part it extends and nothing else. Everything shown from a tool or reasoning is text
// (textContent), never markup; text parts go through markdown.js's sanitiser.

import { h } from "./dom.js";
import { MarkdownStream } from "./markdownstream.js";

const RUNNING = new Set(["input-streaming", "input-available"]);
const TOOL_LABELS = {
  "input-streaming": "preparing…",
  "input-available": "running…",
  "output-available": "done",
  "output-error": "failed",
};

function shown(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

class TextPart {
  constructor() {
    this.markdown = new MarkdownStream();
    this.el = this.markdown.el;
  }

  update(part) {
    this.markdown.update(part.text ?? "");
  }
}

class ReasoningPart {
  constructor(part) {
    this.label = h("summary", { class: "part-label" });
    this.node = document.createTextNode(""); // grows by appendData: a delta costs its own length
    this.text = h("div", { class: "reasoning-text" }, this.node);
    this.el = h("details", { class: "part part-reasoning", dataset: { testid: "part-reasoning" } }, this.label, this.text);
    this.touched = false; // the reader opened or closed it: leave it as they chose
    this.wanted = null; // what this view last set: a toggle away from it is the reader's
    this.el.addEventListener("toggle", () => { if (this.el.open !== this.wanted) this.touched = true; });
    this.#setOpen(part.state === "streaming");
  }

  #setOpen(open) {
    this.wanted = open;
    this.el.open = open;
  }

  update(part) {
    const streaming = part.state === "streaming";
    this.el.dataset.state = part.state ?? "done";
    this.label.textContent = streaming ? "Thinking…" : "Thought";
    const text = part.text ?? "";
    const old = this.node.data;
    if (text.length >= old.length && text.startsWith(old)) this.node.appendData(text.slice(old.length));
    else this.node.data = text;
    if (!this.touched) this.#setOpen(streaming);
  }
}

class ToolPart {
  constructor() {
    this.spinner = h("span", { class: "spinner", "aria-hidden": "true" });
    this.name = h("span", { class: "tool-name" });
    this.state = h("span", { class: "tool-state" });
    this.input = h("pre", { class: "tool-input" });
    this.output = h("pre", { class: "tool-output" });
    this.el = h("div", { class: "part part-tool", dataset: { testid: "part-tool" } },
      h("div", { class: "tool-head" }, this.spinner, this.name, this.state), this.input, this.output);
  }

  update(part) {
    this.el.dataset.state = part.state;
    this.el.dataset.toolCallId = part.tool_call_id ?? "";
    this.spinner.hidden = !RUNNING.has(part.state);
    this.name.textContent = part.name ?? "tool";
    this.state.textContent = TOOL_LABELS[part.state] ?? part.state ?? "";
    this.input.textContent = part.input !== null && part.input !== undefined ? shown(part.input) : part.input_text ?? "";
    const failed = part.state === "output-error";
    this.output.textContent = failed ? part.error ?? "failed" : shown(part.output);
    this.output.classList.toggle("tool-error", failed);
    this.output.hidden = this.output.textContent === "";
  }
}

const KINDS = { text: TextPart, reasoning: ReasoningPart, tool: ToolPart };

export class PartsView {
  /**
   * @param {HTMLElement} body    where the parts go, in order
   * @param {HTMLElement} status  the status line, shown under the answer
   */
  constructor(body, status) {
    this.body = body;
    this.status = status;
    this.views = new Map(); // part id -> {kind, part, view}
  }

  /** Show `parts` (a message's, in order). */
  render(parts) {
    const seen = new Set();
    let previous = null;
    let statusText = "";
    for (const part of parts) {
      if (part.type === "status") {
        statusText = part.text ?? "";
        continue;
      }
      const Kind = KINDS[part.type];
      if (!Kind) continue; // a part type this client does not know yet
      seen.add(part.id);
      let entry = this.views.get(part.id);
      if (!entry || entry.kind !== part.type) {
        entry?.view.el.remove();
        entry = { kind: part.type, part: null, view: new Kind(part) };
        entry.view.el.partId = part.id; // not a data-* attribute: answer markup carries none (test_security)
        this.views.set(part.id, entry);
      }
      if (entry.part !== part) {
        entry.view.update(part);
        entry.part = part; // parts are immutable (client/parts.js): same object, nothing to do
      }
      const expected = previous ? previous.nextElementSibling : this.body.firstElementChild;
      if (expected !== entry.view.el) this.body.insertBefore(entry.view.el, expected);
      previous = entry.view.el;
    }
    for (const [id, entry] of this.views) {
      if (!seen.has(id)) {
        entry.view.el.remove();
        this.views.delete(id);
      }
    }
    if (this.status.textContent !== statusText) this.status.textContent = statusText;
    this.status.hidden = statusText === "";
  }
}
