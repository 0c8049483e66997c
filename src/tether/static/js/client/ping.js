// The server's Engine.IO ping settings, which decide when the client calls a connection dead.
//
// socket.io-client learns them in the Engine.IO handshake but keeps them private (and the minified
// build renames the fields), so the server repeats them in `hello.limits` (milliseconds). Until a
// hello arrives, Engine.IO's defaults stand.

export const DEFAULT_PING = Object.freeze({ pingInterval: 25000, pingTimeout: 20000 });

/** Longest silence before a probe: a ping is overdue, but Engine.IO has not given up yet. */
const MAX_SILENCE_MARGIN = 5000;

/** Bounds of the absence after which a wake-up races a fresh connection against the probe. */
export const RACE_AFTER_BOUNDS = Object.freeze({ min: 1000, max: 5000 });

export class ServerPing {
  constructor() {
    Object.assign(this, DEFAULT_PING);
    this.fromServer = false;
  }

  /** Take `hello.limits.ping_interval` / `ping_timeout`; values that are not positive are ignored. */
  set({ ping_interval: interval, ping_timeout: timeout } = {}) {
    const valid = (ms) => Number.isFinite(ms) && ms > 0;
    if (!valid(interval) || !valid(timeout)) return false;
    Object.assign(this, { pingInterval: interval, pingTimeout: timeout, fromServer: true });
    return true;
  }

  /** The longest absence the server tolerates before it drops us: interval + timeout. */
  get serverTimeout() {
    return this.pingInterval + this.pingTimeout;
  }

  /** Silence longer than this is suspicious: the next ping is overdue by half its timeout (at
   *  most 5 s), early enough that a probe answers before Engine.IO's own timeout would. */
  get silenceLimit() {
    return this.pingInterval + Math.min(MAX_SILENCE_MARGIN, this.pingTimeout / 2);
  }

  /** An absence longer than this may have cost the socket (a phone cuts a hidden page's network
   *  within seconds, long before the server's interval + timeout tells either side), so the
   *  wake-up opens a fresh connection beside the probe: a tenth of the ping interval, within
   *  1-5 s (2.5 s with Engine.IO's defaults). Shorter absences (a tab switch) only probe. */
  get raceAfter() {
    const { min, max } = RACE_AFTER_BOUNDS;
    return Math.min(max, Math.max(min, this.pingInterval / 10));
  }
}
