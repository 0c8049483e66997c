// How long the last recovery took: from the moment the user came back (or the connection dropped)
// until every followed session had re-synced on the new connection. Shown in the debug panel and
// read by the end-to-end tests.

export class RecoveryMeter {
  constructor() {
    this.pending = null; // {startedAt, connectedAt, reason}
    this.lastWake = null;
    this.lastMs = null;
    this.lastReason = null;
    this.history = [];
  }

  /** A wake-up signal; coming back fires several at once, the first one names the recovery. */
  wake(wake) {
    if (!this.lastWake || wake.at - this.lastWake.at > 1000) this.lastWake = wake;
  }

  /** A connection opened: a recovery is pending until the followers have re-synced. */
  connected({ reconnect, recoveryStartedAt, at }) {
    // Measured from the moment the user came back, if they did since the drop.
    let startedAt = recoveryStartedAt ?? at;
    let reason = reconnect ? "reconnect" : "start";
    if (this.lastWake && this.lastWake.at >= startedAt) ({ at: startedAt, reason } = this.lastWake);
    this.pending = { startedAt, connectedAt: at, reason };
  }

  /**
   * The recovery ends when every followed session (but those the server says are gone) is live
   * again with a sync on the new connection. Returns `{ms, reason}` when it ends now, else null.
   */
  check(followers, now) {
    const pending = this.pending;
    if (!pending) return null;
    for (const follower of followers) {
      if (follower.state === "gone") continue;
      if (follower.state !== "live" || !follower.lastSync || follower.lastSync.at < pending.connectedAt) return null;
    }
    const ms = now - pending.startedAt;
    Object.assign(this, { pending: null, lastMs: ms, lastReason: pending.reason });
    this.history = [...this.history.slice(-19), { ms, reason: pending.reason }];
    return { ms, reason: pending.reason };
  }
}
