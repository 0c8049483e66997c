// The shared part cases (tests/cases/parts.json, format in tests/cases/PARTS.md) over the browser's
// merge.js: structured answers merged by the chunk rule, whatever order the snapshot and the live
// chunks arrive in. The Python reference (tether.parts) runs the same file.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  applyDelta, applySubscribeAck, createView, orderedMessages,
} from "../../src/tether/static/js/client/merge.js";
import { applyOps, partsOf } from "../../src/tether/static/js/client/parts.js";

import { loadCases, replay } from "./support/cases.mjs";

const cases = loadCases("parts.json");

for (const c of cases) {
  test(c.name, () => {
    const view = replay(c);
    const messages = orderedMessages(view);
    assert.deepEqual(messages.map((m) => [m.id, m.seq, m.status, m.content, m.chunks]), c.final.order);
    assert.deepEqual(Object.fromEntries(messages.map((m) => [m.id, partsOf(m)])), c.final.parts);
    for (const m of messages) {
      const text = partsOf(m).filter((p) => p.type === "text").map((p) => p.text).join("");
      assert.equal(m.content, text, `${m.id}: content is its text parts joined`);
    }
    assert.deepEqual([...view.held.keys()].sort((a, b) => a - b), c.final.held);
  });
}

test("the part cases cover duplicates, a gap, a snapshot mid tool call, a reset, an older server", () => {
  const names = cases.map((c) => c.name).join("\n");
  for (const word of ["duplicate", "gap", "snapshot mid-tool", "reset", "older server"]) assert.match(names, new RegExp(word));
});

test("ops never mutate the parts they are applied to; unchanged parts keep their identity", () => {
  const parts = Object.freeze([
    Object.freeze({ id: "r0", type: "reasoning", text: "a", state: "streaming" }),
    Object.freeze({ id: "t1", type: "text", text: "x" }),
  ]);
  const next = applyOps(parts, [
    { op: "append", id: "t1", field: "text", value: "y" },
    { op: "start", part: { id: "st", type: "status", text: "…" } },
    { op: "remove", id: "st" },
    { op: "frobnicate", id: "t1" },
  ]);
  assert.equal(next[0], parts[0]);
  assert.deepEqual(next[1], { id: "t1", type: "text", text: "xy" });
  assert.equal(next.length, 2);
  assert.equal(parts[1].text, "x");
});

test("a delta without ops on a message with parts appends its text to the last text part or a new one", () => {
  const view = createView("s1");
  const base = { id: "m", session_id: "s1", position: 1, seq: 1, role: "assistant", status: "streaming" };
  applySubscribeAck(view, { mode: "recent", head_seq: 1, messages: [{
    ...base, content: "", chunks: 1, parts: [{ id: "r0", type: "reasoning", text: "hm", state: "done" }],
  }] });
  applyDelta(view, { message_id: "m", chunk: 1, text: "A" });
  applyDelta(view, { message_id: "m", chunk: 2, text: "B" });
  applyDelta(view, { message_id: "m", chunk: 3, text: "" });
  const m = view.messages.get("m");
  assert.deepEqual(m.parts.slice(1), [{ id: "t1", type: "text", text: "AB" }]);
  assert.equal(m.content, "AB");
  assert.equal(m.chunks, 4);
});
