// The shared case files of tests/cases/ replayed over merge.js: one runner for merge.json and
// parts.json, so the two JS tests differ only in what they check at the end.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  applyDelta, applyHistory, applyLiveMessage, applySubscribeAck, createView,
} from "../../../src/tether/static/js/client/merge.js";

export function loadCases(name) {
  return JSON.parse(readFileSync(new URL(`../../cases/${name}`, import.meta.url))).cases;
}

function runStep(view, step) {
  if ("ack" in step) return applySubscribeAck(view, step.ack, step.buffered ?? []);
  if ("live" in step) return applyLiveMessage(view, step.live);
  if ("delta" in step) return applyDelta(view, step.delta);
  applyHistory(view, step.history, step.has_more);
  return undefined;
}

/** Replay a case's steps on a new view, checking each step's `expect`; the view at the end. */
export function replay(c) {
  const view = createView("s1");
  c.steps.forEach((step, number) => {
    const result = runStep(view, step);
    if ("expect" in step) assert.deepEqual(result, step.expect, `step ${number}`);
  });
  assert.equal(view.lastSeq, c.final.last_seq);
  return view;
}
