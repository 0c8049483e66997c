// The Connection's states (connection.js): a guarded state machine (machine.js) over three states,
// and the one rule for which "not connected" state a lost or failing connection is in.

import { StateMachine } from "./machine.js";

export const STATES = Object.freeze({
  CONNECTED: "connected",
  CONNECTING: "connecting", // not connected, trying (an attempt in flight or a short wait)
  OFFLINE: "offline", // not connected: the browser says offline, the server keeps failing, or stopped
});

/** Each state may go to any other: the guard refuses states outside STATES. */
const TRANSITIONS = Object.freeze({
  [STATES.OFFLINE]: [STATES.CONNECTING, STATES.CONNECTED],
  [STATES.CONNECTING]: [STATES.CONNECTED, STATES.OFFLINE],
  [STATES.CONNECTED]: [STATES.CONNECTING, STATES.OFFLINE],
});

/** A machine starting `offline`; `onChange(change)` after every transition. */
export function connectionMachine({ timers, onChange }) {
  return new StateMachine({ states: STATES, transitions: TRANSITIONS, initial: STATES.OFFLINE, timers, onChange });
}

/** Not connected: `connecting` while the browser is online and fewer than `offlineAfterFailures`
 *  attempts in a row failed, else `offline` (retries go on either way). */
export function downState({ online, failures, offlineAfterFailures }) {
  return online && failures < offlineAfterFailures ? STATES.CONNECTING : STATES.OFFLINE;
}
