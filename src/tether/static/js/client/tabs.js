// The other tabs of this browser, as far as liveness needs them. Tabs share the network: when one
// finds its "connected" socket dead (a probe unanswered, an absence past the server's timeout),
// the others' sockets went silent the same way, but a tab that is visible and was never away
// would only notice once the server's pings are overdue (about 30 s). So a tab that drops a
// zombie says so on a BroadcastChannel, and every other tab probes its own connection at once
// (a heartbeat: nothing is dropped unless that probe goes unanswered too).

const ZOMBIE = "zombie";

export class TabSignals {
  /**
   * @param {object} deps
   * @param {{postMessage: Function, onmessage: ?Function} | null} deps.channel
   *        a BroadcastChannel (null where the browser has none: each tab is on its own)
   * @param {(reason: string) => void} deps.onZombie  another tab dropped a dead connection
   */
  constructor({ channel, onZombie, log = () => {} }) {
    Object.assign(this, { channel, onZombie, log });
    if (channel) channel.onmessage = (event) => this.#receive(event?.data);
  }

  /** This tab dropped a dead connection: tell the others. */
  zombie(reason) {
    try {
      this.channel?.postMessage({ type: ZOMBIE, reason: String(reason) });
    } catch {
      // a closed channel: nobody to tell
    }
  }

  #receive(data) {
    if (data?.type !== ZOMBIE) return;
    this.log("info", `[Connection] another tab dropped a dead connection (${data.reason})`);
    this.onZombie(String(data.reason));
  }
}

/** A BroadcastChannel named for the Tether at `basePath` of this origin, or null. */
export function tabChannel(basePath = "") {
  return typeof BroadcastChannel === "function" ? new BroadcastChannel(`tether:${basePath}`) : null;
}

/** The tabs channel wired to a connection: its zombies are told to the other tabs, theirs make
 *  it probe its own socket. */
export function linkTabs({ channel, connection, log = () => {} }) {
  const tabs = new TabSignals({
    channel, log, onZombie: (reason) => connection.probe(`another tab's connection was dead: ${reason}`),
  });
  connection.on("zombie", ({ reason }) => tabs.zombie(reason));
  return tabs;
}
