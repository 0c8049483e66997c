// Markdown that grows at its end, rendered incrementally: a delta costs the size of the block
// being written, not the size of the whole answer (re-rendering and re-sanitising everything on
// every delta made a long answer cost the square of its length).
//
// Blocks that are finished (another block has started after them) are rendered once each,
// sanitised, and never touched again; only the last, open block is re-rendered on each update.
// Each finished block is rendered on its own, so a text that arrives in one piece (a reload, a
// snapshot) and the same text streamed chunk by chunk end as the same HTML. The price: a block is
// rendered without seeing later ones (a reference link defined further down stays text). There is
// no markdown library here that parses incrementally (marked and DOMPurify are the pinned ones), so
// this small splitter sits on marked's own lexer instead of a second parser.

import { h } from "./dom.js";
import { markdownBlocks, renderMarkdown } from "./markdown.js";

/** Finished blocks per run: see #finish. */
const RUN_BLOCKS = 16;

export class MarkdownStream {
  constructor() {
    this.done = h("div", { class: "md-done" });
    this.open = h("div", { class: "md-open" });
    this.el = h("div", { class: "part part-text" }, this.done, this.open);
    this.source = ""; // the text shown
    this.committed = 0; // how much of it is in finished blocks
  }

  /** Show `text`: when it extends what is shown, only the open block is rendered again. */
  update(text) {
    if (text === this.source) return;
    if (text.length < this.source.length || !text.startsWith(this.source)) {
      this.done.replaceChildren(); // not a continuation (a reset, an edit): start over
      this.committed = 0;
    }
    this.source = text;
    let rest = text.slice(this.committed);
    const blocks = markdownBlocks(rest);
    let last = -1;
    blocks.forEach((block, i) => { if (block.type !== "space") last = i; });
    for (const block of blocks.slice(0, Math.max(0, last))) {
      // marked normalises \r\n; should its raws ever stop matching the text, keep the rest open.
      if (!rest.startsWith(block.raw) || block.raw === "") break;
      if (block.type !== "space") this.#finish(renderMarkdown(block.raw));
      this.committed += block.raw.length;
      rest = rest.slice(block.raw.length);
    }
    this.open.innerHTML = renderMarkdown(rest);
  }

  /** Finished blocks are kept in runs of RUN_BLOCKS, each a block box of its own. `.md-done`
   *  and `.md-open` are `display: contents`, so each delta lays out the part's box again, and
   *  Blink walks every child of it, finished or not: with the blocks directly in it, a delta at
   *  the end of a long answer cost a walk of the whole answer (main-thread ms per delta rose
   *  about 1.5x over 20,000 tokens, docs/performance.md). A run left untouched is one child.
   *  Runs add no margins or padding, so the blocks' margins collapse through them as before;
   *  the grouping depends only on the count of blocks, so a reload renders the same HTML as
   *  the stream did. */
  #finish(html) {
    let run = this.done.lastElementChild;
    if (!run || run.childElementCount >= RUN_BLOCKS) {
      run = this.done.appendChild(h("div", { class: "md-run" }));
    }
    run.insertAdjacentHTML("beforeend", html);
  }
}
