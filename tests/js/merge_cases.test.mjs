// The shared merge cases (tests/cases/merge.json) over the browser's merge.js.
// tests/cases/test_merge_cases.py runs the same file over the Python reference, tether.merge.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  applyDelta, applyHistory, applyLiveMessage, applySubscribeAck, createView, orderedMessages,
} from "../../src/tether/static/js/client/merge.js";

const { cases } = JSON.parse(readFileSync(new URL("../cases/merge.json", import.meta.url)));

function runStep(view, step) {
  if ("ack" in step) return applySubscribeAck(view, step.ack, step.buffered ?? []);
  if ("live" in step) return applyLiveMessage(view, step.live);
  if ("delta" in step) return applyDelta(view, step.delta);
  applyHistory(view, step.history, step.has_more);
  return undefined;
}

for (const c of cases) {
  test(c.name, () => {
    const view = createView("s1");
    c.steps.forEach((step, number) => {
      const result = runStep(view, step);
      if ("expect" in step) assert.deepEqual(result, step.expect, `step ${number}`);
    });
    assert.equal(view.lastSeq, c.final.last_seq);
    assert.deepEqual(
      orderedMessages(view).map((m) => [m.id, m.seq, m.status, m.content, m.chunks]),
      c.final.order,
    );
    assert.deepEqual([...view.held.keys()].sort((a, b) => a - b), c.final.held);
    if ("has_older" in c.final) assert.equal(view.hasOlder, c.final.has_older);
  });
}

test("the cases file is not empty", () => assert.ok(cases.length >= 10));
