// What the server said about itself in `hello` (docs/protocol.md): its limits, ping settings,
// agents, the signed-in user, Web Push. The agents are kept in localStorage so that a page opened
// while the server cannot be reached still offers them (viewmodel.js). A message the server's
// limits refuse is refused here, before it is queued.

import { EVENTS } from "./protocol.js";

export class ServerHello {
  /** `shared` the localStorage store; `ping` the connection's ping settings (ping.js);
   *  `connection` whose `hello` events are received (or null: `receive` is called);
   *  `onReceive(payload)` after each. */
  constructor({ shared, ping, connection = null, onReceive = () => {}, log = () => {} }) {
    Object.assign(this, { shared, ping, onReceive, log });
    this.payload = null; // the last hello, or null before the first
    connection?.on("event", (name, payload) => { if (name === EVENTS.HELLO) this.receive(payload); });
  }

  receive(payload) {
    this.payload = payload;
    if (Array.isArray(payload?.agents)) this.shared.set("agents", { agents: payload.agents, default_agent: payload.default_agent ?? null });
    if (!this.ping.set(payload?.limits)) this.log("warn", "[Client] hello without ping settings");
    this.log("info", `[Client] hello server_id=${payload?.server_id} user=${payload?.user?.name}`);
    this.onReceive(payload);
  }

  /** Throws when `content` is no message to send: empty (or only spaces), or longer than the
   *  server's `limits.max_message_chars` (no length limit before the first hello). */
  checkMessage(content) {
    const max = this.payload?.limits?.max_message_chars;
    if (!content.trim()) throw new Error("empty message");
    if (max && content.length > max) throw new Error(`message longer than ${max} characters`);
  }
}
