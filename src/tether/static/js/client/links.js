// The Connection's socket links (connection.js): the one link whose events count, the wake-up race
// (wakerace.js) that may open a spare beside it, and the hand-over to the spare when the old link
// lost. A link that is not (or no longer) the current one is never heard: its connects,
// disconnects and events are dropped, so two sockets never drive the connection at once.

import { WakeRace } from "./wakerace.js";

export class Links {
  /**
   * `open(handlers)` a new SocketLink (socket.js) with these handlers; `handlers` the link events
   * `{onConnect, onDisconnect, onConnectError, onEvent}`, called only for the current link;
   * `connected()` whether the connection says connected; `meter` its ConnectMeter (connmeter.js:
   * the races' counts, when a recovery started); `onDead(reason, startedAt)` the spare's transport
   * opened before the probe was answered: the old link is taken for dead (and the other tabs told,
   * as for any zombie: they only probe theirs, tabs.js); `onLeave()` the old link is about to be
   * retired (before its in-flight requests fail); `onReplaced(reason)` it was.
   */
  constructor({ open, handlers, connected, meter, onDead, onLeave, onReplaced, log = () => {} }) {
    Object.assign(this, { open, handlers, connected, meter, onLeave, onReplaced });
    this.link = this.#fresh();
    this.race = new WakeRace({
      newLink: () => this.#fresh(), connected, log, counts: meter.stats.races,
      onWon: (startedAt) => onDead("the fresh connection opened before the probe was answered", startedAt),
      onOpened: (reason) => this.adopt(reason),
    });
  }

  /** The wake-up race (liveness.js asks): a spare link's transport opens beside the probe, and
   *  the current recovery counts from `startedAt`. Not while a race is on, nor when not connected. */
  startRace(reason, startedAt) {
    if (this.race.running || !this.connected()) return;
    this.meter.restart(startedAt);
    this.race.start(reason, startedAt);
  }

  /** The probe was answered: the old link is alive, the spare (if any) closes, nothing to recover. */
  alive() {
    if (this.race.discard("the probe was answered: the connection is alive", { kept: true })) this.meter.forget();
  }

  /** A link whose events count only while it is the current one. */
  #fresh() {
    const mine = (handler) => (...args) => { if (this.link === link) handler(...args); };
    const handlers = Object.fromEntries(Object.entries(this.handlers).map(([name, handler]) => [name, mine(handler)]));
    const link = this.open(handlers);
    return link;
  }

  /** A new attempt: a spare already opening is a fresh attempt ahead of it and takes over;
   *  else the current link builds a fresh connection. */
  restart(reason) {
    if (this.race.running) this.adopt(reason);
    else this.link.restart();
  }

  /** The old link lost the race: the spare becomes the link and joins (subscribes follow its
   *  connect); the old one's in-flight requests fail (their callers retry on the new link, the
   *  outbox with the same client_msg_id) and nothing it still receives is heard. `closed`: the
   *  old link is down already (its disconnect did the rest). */
  adopt(reason, { closed = false } = {}) {
    const [old, spare] = [this.link, this.race.take(reason)];
    this.link = spare;
    if (!closed) {
      this.onLeave();
      old.failInflight();
      old.close();
      this.onReplaced(reason);
    }
    spare.connect();
  }
}
