// The wake-up race: after an absence long enough for a phone to have cut the socket, a spare
// link opens its transport beside the heartbeat probe. The first proof of life wins: the probe's
// answer keeps the old socket (the spare closes, never having joined), the spare's open transport
// (or the probe's timeout, or the old socket's disconnect) makes the spare the link, and only then
// does it join and re-subscribe. So two sockets never subscribe at once, and the old one's events
// are ignored from the moment it lost.
//
// This module owns the spare link and counts the races. The connection's links (links.js) start a
// race when liveness.js asks for one, discard the spare when the probe is answered or the
// connection stops, and take the spare over as the link when the old one lost.

export class WakeRace {
  /**
   * `newLink()` a fresh SocketLink (its events count only once it is the connection's link);
   * `connected()` whether the connection still says connected; `onWon(startedAt)` the spare's
   * transport opened while the old socket says connected: the old one is taken for dead;
   * `onOpened(reason)` it opened after the old one went down: the spare is to be taken over now;
   * `counts` where to count the races (the connection's `stats.races`, connmeter.js).
   */
  constructor({ newLink, connected, onWon, onOpened, log = () => {}, counts = { fresh: 0, kept: 0 } }) {
    Object.assign(this, { newLink, connected, onWon, onOpened, log });
    this.spare = null; // the fresh link, while the race is on
    this.counts = counts; // races won by the fresh connection / by the old one
  }

  get running() { return this.spare !== null; }

  /** Open a spare link's transport beside the probe (the caller checked no race is on). */
  start(reason, startedAt) {
    const spare = this.newLink();
    this.spare = spare;
    this.log("info", `[Connection] wake-up race: a fresh connection beside the probe (${reason})`);
    spare.preopen((error) => {
      if (this.spare !== spare) return;
      if (error) this.discard(`the fresh connection failed: ${error?.message ?? error}`);
      else if (this.connected()) this.onWon(startedAt);
      else this.onOpened("the fresh connection opened");
    });
  }

  /** The old link lost: the spare leaves the race (a win for the fresh connection), returned
   *  for the caller to make it the link. */
  take(reason) {
    const spare = this.spare;
    this.spare = null;
    this.counts.fresh += 1;
    this.log("info", `[Connection] the fresh connection takes over (${reason})`);
    return spare;
  }

  /** Close the spare, if there is one; `kept`: the old link won (counted). Whether one was closed. */
  discard(reason, { kept = false } = {}) {
    const spare = this.spare;
    if (!spare) return false;
    this.spare = null;
    if (kept) this.counts.kept += 1;
    this.log("info", `[Connection] wake-up race: the fresh connection is closed (${reason})`);
    spare.close();
    return true;
  }
}
