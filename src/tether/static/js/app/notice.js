// A one-line notice for an action that could not be done (rename, archive, new chat, stop): said
// at once, instead of a change that silently reverts or a click that silently does nothing.

const SHOW_MS = 8000;

export class Notice {
  /** @param {HTMLElement} root  the notice element (role=alert) */
  constructor(root) {
    this.root = root;
    this.timer = null;
    root.addEventListener("click", () => this.hide());
  }

  show(text) {
    this.root.textContent = text;
    this.root.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), SHOW_MS);
  }

  hide() {
    clearTimeout(this.timer);
    this.root.hidden = true;
  }
}
