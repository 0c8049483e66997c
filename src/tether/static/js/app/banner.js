// The status banner under the chat header: what is true about the connection right now (see
// client/status.js for how that is decided), what waits in the outbox, and "Retry now" when the
// server cannot be reached.

import { h } from "./dom.js";

const seconds = (ms) => Math.max(1, Math.ceil(ms / 1000));

/** The header's connection state in words (its dot's colour alone is not enough: WCAG 1.4.1). */
export const CONNECTION_LABELS = Object.freeze({
  connected: "Connected", connecting: "Connecting…", offline: "Offline",
});

/** The banner's sentence for a status (null: no banner). Pure. */
export function bannerText(status, pendingCount) {
  const waiting = pendingCount ? ` ${pendingCount} waiting to be sent.` : "";
  switch (status.kind) {
    case "offline":
      return `You're offline. Messages will be sent when you're back online.${waiting}`;
    case "connecting":
      return `Reconnecting…${waiting}`;
    case "unreachable": {
      const next = status.retryInMs === null ? "retrying now" : `next attempt in ${seconds(status.retryInMs)} s`;
      return `Can't reach the server (${next}).${waiting}`;
    }
    case "signed_out":
      return "Signed out: this server needs a valid token. Sign in to continue.";
    case "unavailable":
      return `The server is up but its storage is not; it will retry by itself.${waiting}`;
    default:
      return null;
  }
}

export class StatusBanner {
  /** @param {HTMLElement} root  the banner element; `onRetryNow` skips the wait. */
  constructor(root, { onRetryNow }) {
    this.root = root;
    this.text = h("span", { class: "banner-text" });
    this.retry = h("button", { type: "button", class: "link banner-retry", dataset: { testid: "banner-retry" } }, "Retry now");
    this.retry.addEventListener("click", () => onRetryNow());
    root.replaceChildren(this.text, this.retry);
  }

  render(status, pendingCount) {
    const text = bannerText(status, pendingCount);
    this.root.hidden = text === null;
    this.root.dataset.state = status.kind;
    this.text.textContent = text ?? "";
    this.retry.hidden = status.kind !== "unreachable";
  }
}
