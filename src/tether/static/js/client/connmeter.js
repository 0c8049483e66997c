// The Connection's counters (connection.js `stats`, shown by the debug panel) and the moment the
// current recovery started (a wake-up, a drop, a lost connection), from which the next connect's
// `lastConnectMs` is counted and which the connect event hands on (recovery.js).

export class ConnectMeter {
  /** `races` the wake-up race's counts (wakerace.js), shown as `stats.races`. */
  constructor(races) {
    this.stats = {
      connects: 0, reconnects: 0, failures: 0, zombies: 0, rttMs: null, lastConnectMs: null,
      races, // wake-up races won by the fresh connection / by the old one
    };
    this.startedAt = null; // when the current recovery started, or null
  }

  /** A recovery starts now, unless one is under way already. */
  begin(at) { this.startedAt ??= at; }

  /** The current recovery counts from `at` (the wake-up that found the connection dead). */
  restart(at) { this.startedAt = at; }

  /** Nothing to recover after all (the old connection answered). */
  forget() { this.startedAt = null; }

  /** A connection dropped for dead; its recovery counts from `startedAt`. */
  zombie(startedAt) { this.stats.zombies += 1; this.startedAt = startedAt; }

  failed() { this.stats.failures += 1; }

  /** Connected at `now`: the counts move on; `{reconnect, recoveryStartedAt}` for the connect event. */
  connected(now) {
    const { connects, reconnects } = this.stats;
    const reconnect = connects > 0;
    const recoveryStartedAt = this.startedAt;
    Object.assign(this.stats, {
      connects: connects + 1, reconnects: reconnects + (reconnect ? 1 : 0),
      failures: 0, lastConnectMs: recoveryStartedAt === null ? null : now - recoveryStartedAt,
    });
    this.startedAt = null;
    return { reconnect, recoveryStartedAt };
  }
}
