// A guarded state machine: a frozen object of states, a table of the changes allowed from each,
// and a short history. A change the table does not allow is a bug in the caller, so it throws
// instead of leaving the client in a state nobody planned for.

import { realTimers } from "./timers.js";

export class IllegalTransition extends Error {}

export class StateMachine {
  /**
   * @param {object} spec
   * @param {Readonly<Record<string, string>>} spec.states       name -> state
   * @param {Readonly<Record<string, readonly string[]>>} spec.transitions  state -> states it may go to
   * @param {string} spec.initial
   * @param {(change: {from, to, at, reason}) => void} [spec.onChange]
   */
  constructor({ states, transitions, initial, timers = realTimers, onChange = () => {}, keep = 50 }) {
    const known = new Set(Object.values(states));
    for (const [from, targets] of Object.entries(transitions)) {
      for (const to of [from, ...targets]) if (!known.has(to)) throw new Error(`unknown state ${to}`);
    }
    if (!known.has(initial)) throw new Error(`unknown state ${initial}`);
    Object.assign(this, { transitions, timers, onChange, keep });
    this.state = initial;
    this.since = timers.now();
    this.history = [];
  }

  /** Whether the table allows going from the current state to `to` (staying put always is). */
  can(to) {
    return to === this.state || (this.transitions[this.state] ?? []).includes(to);
  }

  /** Go to `to`; staying in the same state changes nothing. Returns the change, or null. */
  go(to, reason = "") {
    if (to === this.state) return null;
    if (!this.can(to)) throw new IllegalTransition(`illegal transition ${this.state} -> ${to} (${reason})`);
    const change = { from: this.state, to, at: this.timers.now(), reason };
    this.state = to;
    this.since = change.at;
    this.history.push(change);
    if (this.history.length > this.keep) this.history.shift();
    this.onChange(change);
    return change;
  }
}
