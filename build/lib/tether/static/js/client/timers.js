// The clock and timers the library uses, injectable so tests can drive time by hand.

/** The real clock: `{ now, setTimeout, clearTimeout }`. */
export const realTimers = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
});
