// The shared merge cases (tests/cases/merge.json) over the browser's merge.js.
// tests/cases/test_merge_cases.py runs the same file over the Python reference, tether.merge.
import assert from "node:assert/strict";
import { test } from "node:test";

import { orderedMessages } from "../../src/tether/static/js/client/merge.js";
import { loadCases, replay } from "./support/cases.mjs";

const cases = loadCases("merge.json");

for (const c of cases) {
  test(c.name, () => {
    const view = replay(c);
    assert.deepEqual(
      orderedMessages(view).map((m) => [m.id, m.seq, m.status, m.content, m.chunks]),
      c.final.order,
    );
    assert.deepEqual([...view.held.keys()].sort((a, b) => a - b), c.final.held);
    if ("has_older" in c.final) assert.equal(view.hasOlder, c.final.has_older);
  });
}

test("the cases file is not empty", () => assert.ok(cases.length >= 10));
