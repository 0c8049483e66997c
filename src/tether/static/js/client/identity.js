// Who this tab is to the server: its client_id (per tab, in sessionStorage, kept across reloads)
// and the user's bearer token (shared by the tabs, in localStorage). `auth()` is what each
// connection attempt sends.

import { CLIENT_ID_PATTERN } from "./protocol.js";

export class Identity {
  /**
   * @param {import("./storage.js").KeyValueStore} tab     the tab's storage
   * @param {import("./storage.js").KeyValueStore} shared  the storage the tabs share
   * @param {() => string} uuid
   */
  constructor(tab, shared, uuid) {
    Object.assign(this, { tab, shared, uuid });
    this.clientId = tab.get("client_id");
    if (typeof this.clientId !== "string" || !CLIENT_ID_PATTERN.test(this.clientId)) this.renew();
    this.token = shared.get("token");
  }

  /** The connection's `auth`: the token (when there is one) and the client_id. */
  auth() {
    return this.token ? { token: this.token, client_id: this.clientId } : { client_id: this.clientId };
  }

  /** A new client_id: another tab holds ours (a duplicated tab copies sessionStorage), or the
   *  server refused it. */
  renew() {
    this.clientId = this.uuid().replace(/[^A-Za-z0-9_-]/g, "").slice(0, 64);
    this.tab.set("client_id", this.clientId);
  }

  setToken(token) {
    this.token = token || null;
    if (this.token) this.shared.set("token", this.token);
    else this.shared.delete("token");
  }
}
