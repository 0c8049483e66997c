// How the client answers a connection the server refused: an `unauthorized` token is forgotten
// (and the sign-in dialog says it was refused rather than just asking for one); a client_id the
// server refused, or one another tab holds (a duplicated tab copies sessionStorage), is renewed
// before the next attempt.

export class SignIn {
  /** `connection` emits `unauthorized`, `kicked`, `invalid_client`; `identity` identity.js;
   *  `onChange()` after a refused sign-in. */
  constructor({ connection, identity, onChange = () => {}, log = () => {} }) {
    Object.assign(this, { identity, onChange, log });
    this.refused = false; // the server refused the token we had
    const renew = (why) => { log("warn", `[Client] new client_id (${why})`); identity.renew(); };
    connection.on("kicked", () => renew("the server closed this connection: another tab has our client_id"));
    connection.on("invalid_client", () => renew("the server refused our client_id"));
    connection.on("unauthorized", () => this.#unauthorized());
  }

  #unauthorized() {
    // Keep nothing the server refused.
    this.refused = Boolean(this.identity.token);
    if (this.refused) this.identity.setToken(null);
    this.log("warn", `[Client] unauthorized${this.refused ? ": the token was refused and forgotten" : ""}`);
    this.onChange();
  }
}
