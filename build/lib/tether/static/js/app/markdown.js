// Markdown to safe HTML: marked renders, DOMPurify removes anything executable. No HTML from a
// message reaches the page without passing through DOMPurify.

import DOMPurify from "../../vendor/purify.es.mjs";
import { Marked } from "../../vendor/marked.esm.js";

const marked = new Marked({ gfm: true, breaks: true, async: false });

const PURIFY = {
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
  FORBID_ATTR: ["style"],
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.getAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** Safe HTML for `text` written in markdown. */
export function renderMarkdown(text) {
  return DOMPurify.sanitize(marked.parse(text ?? ""), PURIFY);
}
