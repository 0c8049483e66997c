// When a recovery ends (recovery.js measures it): checked after every connect and every sync of a
// followed session, reported once every followed session is live again on the new connection.

export class RecoveryWatch {
  /** `meter` a RecoveryMeter; `onRecovered({ms, reason})` once a recovery ends. */
  constructor({ connection, followers, meter, timers, onRecovered, log = () => {} }) {
    Object.assign(this, { connection, followers, meter, timers, onRecovered, log });
    connection.on("wake", (wake) => meter.wake(wake));
    followers.on("synced", () => this.check());
  }

  /** A connection opened (before the followers re-subscribe): a recovery is pending. */
  connected(connect) { this.meter.connected(connect); }

  check() {
    if (!this.connection.connected) return;
    const done = this.meter.check(this.followers.values(), this.timers.now());
    if (!done) return;
    this.log("info", `[Client] recovered in ${done.ms}ms (${done.reason})`);
    this.onRecovered(done);
  }
}
