// The client's log: a ring buffer of recent lines for the debug panel and for remote logging.

import { Emitter } from "./emitter.js";
import { realTimers } from "./timers.js";

export const LEVELS = Object.freeze(["debug", "info", "warn", "error"]);

export class Logbook extends Emitter {
  constructor({ capacity = 500, timers = realTimers, console: out = globalThis.console } = {}) {
    super();
    this.capacity = capacity;
    this.timers = timers;
    this.out = out;
    this.lines = [];
    this.log = this.log.bind(this);
  }

  /** Record a line; `level` is one of LEVELS. */
  log(level, msg) {
    const line = { ts: new Date(this.timers.now()).toISOString(), level: LEVELS.includes(level) ? level : "info", msg: String(msg) };
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.shift();
    this.out?.[line.level === "debug" ? "debug" : line.level]?.(`[tether] ${line.msg}`);
    this.emit("line", line);
  }

  recent(count = 50) {
    return this.lines.slice(-count);
  }
}
