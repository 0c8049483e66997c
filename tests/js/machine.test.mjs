import assert from "node:assert/strict";
import { test } from "node:test";

import { IllegalTransition, StateMachine } from "../../src/tether/static/js/client/machine.js";
import { FakeClock } from "./support/fakes.mjs";

const STATES = Object.freeze({ A: "a", B: "b", END: "end" });
const TRANSITIONS = Object.freeze({ a: ["b"], b: ["a", "end"], end: [] });

function machine(clock = new FakeClock()) {
  const changes = [];
  const m = new StateMachine({ states: STATES, transitions: TRANSITIONS, initial: "a", timers: clock, onChange: (c) => changes.push(c) });
  return { m, changes, clock };
}

test("a legal change is made, timed, recorded and reported", () => {
  const { m, changes, clock } = machine();
  clock.advance(10);
  const change = m.go("b", "why");
  assert.deepEqual(change, { from: "a", to: "b", at: clock.now(), reason: "why" });
  assert.equal(m.state, "b");
  assert.equal(m.since, clock.now());
  assert.deepEqual(m.history, [change]);
  assert.deepEqual(changes, [change]);
});

test("staying in the same state is not a change", () => {
  const { m, changes } = machine();
  assert.equal(m.go("a"), null);
  assert.deepEqual(changes, []);
  assert.ok(m.can("a"));
});

test("an illegal change throws and changes nothing; a terminal state has no way out", () => {
  const { m, changes } = machine();
  assert.ok(!m.can("end"));
  assert.throws(() => m.go("end", "skip"), IllegalTransition);
  assert.throws(() => m.go("nowhere"), /illegal transition a -> nowhere/);
  assert.equal(m.state, "a");
  m.go("b");
  m.go("end");
  assert.throws(() => m.go("a"), IllegalTransition);
  assert.equal(changes.length, 2);
});

test("a table naming unknown states is refused at construction; history is bounded", () => {
  assert.throws(() => new StateMachine({ states: STATES, transitions: { a: ["z"] }, initial: "a" }), /unknown state z/);
  assert.throws(() => new StateMachine({ states: STATES, transitions: TRANSITIONS, initial: "z" }), /unknown state z/);
  const m = new StateMachine({ states: STATES, transitions: TRANSITIONS, initial: "a", timers: new FakeClock(), keep: 3 });
  for (let i = 0; i < 5; i++) { m.go("b"); m.go("a"); }
  assert.equal(m.history.length, 3);
});
