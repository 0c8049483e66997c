// The debug panel: what the connection is doing, and the Remote switch for shipping logs.

import { h, formatAgo } from "./dom.js";

export class DebugPanel {
  constructor(root, client) {
    this.client = client;
    this.root = root;
    this.fields = h("dl", { class: "debug-fields" });
    this.remote = h("input", { type: "checkbox", dataset: { testid: "remote-logs-toggle" } });
    this.remote.addEventListener("change", () => client.setRemoteLogs(this.remote.checked));
    this.reconnect = h("button", { type: "button", class: "link" }, "Reconnect now");
    this.reconnect.addEventListener("click", () => client.reconnectNow("debug panel"));
    this.events = h("pre", { class: "debug-events", dataset: { testid: "debug-events" } });
    root.replaceChildren(
      h("div", { class: "debug-head" }, h("strong", {}, "Debug"),
        h("label", { class: "remote" }, this.remote, " Remote logs"), this.reconnect),
      this.fields, this.events,
    );
    this.timer = null;
  }

  get open() {
    return !this.root.hidden;
  }

  toggle(open = !this.open) {
    this.root.hidden = !open;
    clearInterval(this.timer);
    if (open) this.timer = setInterval(() => this.render(), 1000);
    this.render();
  }

  render() {
    const d = this.client.diagnostics();
    this.remote.checked = d.remoteLogs;
    if (!this.open) return;
    const now = Date.now();
    const rows = [
      ["state", `${d.state} for ${formatAgo(now - d.since)}`],
      ["transport", d.transport ?? "–"],
      ["sid", d.sid ?? "–"],
      ["client_id", d.clientId],
      ["heartbeat RTT", `${formatAgo(d.rttMs)} (probe waits ${formatAgo(d.probeTimeout)})`],
      ["server pings", `every ${formatAgo(d.pingInterval)}, timeout ${formatAgo(d.pingTimeout)}${d.pingFromServer ? "" : " (defaults)"}`],
      ["probe after silence", formatAgo(d.silenceLimit)],
      ["reconnects", String(d.reconnects)],
      ["zombies dropped", String(d.zombies)],
      ["wake-up races", `after ${formatAgo(d.raceAfter)} away; won by a fresh connection ${d.races.fresh}, by the old one ${d.races.kept}`],
      ["last connect", formatAgo(d.lastConnectMs)],
      ["last recovery", d.lastRecoveryMs === null ? "–" : `${formatAgo(d.lastRecoveryMs)} (${d.lastRecoveryReason})`],
      ["sessions", d.followers.map((f) => `${f.sessionId.slice(0, 8)} ${f.state} last_seq=${f.lastSeq}${f.epoch ? ` epoch=${f.epoch.slice(0, 8)}` : ""}`).join("; ") || "–"],
      ["outbox", String(d.outbox)],
      ["remote logs", d.remoteLogs ? `on, ${d.remoteStats.sent} sent${d.remoteStats.lastError ? `, last error ${d.remoteStats.lastError}` : ""}` : "off"],
    ];
    this.fields.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    this.events.textContent = this.client.logbook.recent(40)
      .map((l) => `${l.ts.slice(11, 23)} ${l.level.padEnd(5)} ${l.msg}`).reverse().join("\n");
  }
}
