// Whether the server's storage is up, as far as this tab can tell: a request that needs storage
// answered `unavailable` on a live connection says it is down, the next one answered `ok` says it
// is back. The heartbeat never reads storage, so it tells nothing (the caller leaves it out).
// The status banner shows "unavailable" instead of "connected" meanwhile (status.js).

export class StorageHealth {
  /** `onChange(down)` after every change; `log(level, text)`. */
  constructor({ onChange = () => {}, log = () => {} } = {}) {
    Object.assign(this, { onChange, log });
    this.down = false;
  }

  /** Learn from the answer of `push` (push.js); `connected()` read when it is answered. */
  watch(push, connected) {
    push.receive("ok", () => this.#set(false))
      .receive("error", (error) => { if (error?.code === "unavailable" && connected()) this.#set(true); });
    return push;
  }

  #set(down) {
    if (this.down === down) return;
    this.down = down;
    this.log(down ? "warn" : "info", `[Connection] server storage ${down ? "unavailable" : "back"}`);
    this.onChange(down);
  }
}
