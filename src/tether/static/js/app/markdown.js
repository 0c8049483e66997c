// Markdown to safe HTML: marked renders, DOMPurify removes anything executable. No HTML from a
// message reaches the page without passing through DOMPurify.
//
// An answer is text written by a model (or by whoever steers it), so it must not be able to act
// without a click: no script (DOMPurify), no request leaving the page by itself (a remote image
// would carry whatever the answer puts in its address), and no styling that could draw fake UI
// over the app (no `style`, no `class` but the one link this module adds, no `id`, no `data-*`).
// Remote images become a link that opens the image; `data:` and same-origin images stay.

import DOMPurify from "../../vendor/purify.es.mjs";
import { Marked } from "../../vendor/marked.esm.js";

const marked = new Marked({ gfm: true, breaks: true, async: false });

/** The class of the link that stands in for a remote image (styled by app.css). */
export const REMOTE_IMAGE_CLASS = "remote-image";

const PURIFY = {
  USE_PROFILES: { html: true }, // no SVG or MathML: <svg><image href> would be fetched
  FORBID_TAGS: [
    "style", "form", "input", "button", "textarea", "select",
    "video", "audio", "source", "picture", "track",
  ],
  FORBID_ATTR: ["style", "id", "srcset", "sizes", "background", "poster", "ping"],
  ALLOW_DATA_ATTR: false, // the app keeps its state and test hooks in data-* attributes
};

/** Whether an image address may load by itself: `data:image/…`, or this page's origin. */
export function loadsByItself(src, base = globalThis.location?.href) {
  try {
    const url = new URL(src, base);
    if (url.protocol === "data:") return /^data:image\//i.test(src.trim());
    return base !== undefined && url.origin === new URL(base).origin;
  } catch {
    return false;
  }
}

DOMPurify.addHook("uponSanitizeAttribute", (node, data) => {
  if (data.attrName !== "class") return;
  data.keepAttr = node.tagName === "A" && data.attrValue === REMOTE_IMAGE_CLASS;
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.getAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
  // A fail-safe: replaceRemoteImages has already turned these into links.
  if (node.tagName === "IMG" && !loadsByItself(node.getAttribute("src") ?? "")) {
    node.removeAttribute("src");
  }
});

/**
 * Replace every remote image of `html` by a link to it, in a document that loads nothing
 * (DOMParser's documents are inert: no fetch, no script).
 */
function replaceRemoteImages(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const img of doc.querySelectorAll("img")) {
    const src = img.getAttribute("src") ?? "";
    if (loadsByItself(src)) continue;
    const link = doc.createElement("a");
    let host = "";
    try {
      const url = new URL(src, globalThis.location?.href);
      if (url.protocol === "http:" || url.protocol === "https:") {
        link.setAttribute("href", url.href);
        host = url.host;
      }
    } catch { /* no link for an address that does not parse */ }
    link.setAttribute("class", REMOTE_IMAGE_CLASS);
    link.setAttribute("title", "Remote image, not loaded: opens in a new tab");
    link.textContent = `Image: ${img.getAttribute("alt") || "untitled"}${host ? ` (${host})` : ""}`;
    img.replaceWith(link);
  }
  return doc.body.innerHTML;
}

/** Safe HTML for `text` written in markdown. */
export function renderMarkdown(text) {
  return DOMPurify.sanitize(replaceRemoteImages(marked.parse(text ?? "")), PURIFY);
}

/**
 * The top-level blocks of `text` as marked's lexer sees them: [{type, raw}], whose raws concatenate
 * to `text` (after marked's own newline normalisation, which the caller checks for).
 */
export function markdownBlocks(text) {
  return marked.lexer(text ?? "");
}
