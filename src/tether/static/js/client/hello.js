// What the server said about itself in `hello` (docs/protocol.md): its limits, ping settings,
// agents, the signed-in user, Web Push. The agents are kept in localStorage so that a page opened
// while the server cannot be reached still offers them (viewmodel.js).

export class ServerHello {
  /** `shared` the localStorage store; `ping` the connection's ping settings (ping.js). */
  constructor({ shared, ping, log = () => {} }) {
    Object.assign(this, { shared, ping, log });
    this.payload = null; // the last hello, or null before the first
  }

  receive(payload) {
    this.payload = payload;
    if (Array.isArray(payload?.agents)) this.shared.set("agents", { agents: payload.agents, default_agent: payload.default_agent ?? null });
    if (!this.ping.set(payload?.limits)) this.log("warn", "[Client] hello without ping settings");
    this.log("info", `[Client] hello server_id=${payload?.server_id} user=${payload?.user?.name}`);
  }
}
