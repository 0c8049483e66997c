// The chat cache's pure rules: whose records, how much is kept, which view is fresher.
import assert from "node:assert/strict";
import { test } from "node:test";

import { boundView, fresherView, isExpired, ownerOf, shouldReplace } from "../../src/tether/static/js/client/cacherules.js";
import { msg } from "./support/messages.mjs";

const stored = (lastSeq, epoch, messages = [], extra = {}) => ({ v: 1, lastSeq, synced: true, hasOlder: false, messages, epoch, ...extra });
const LIMITS = { messages: 3, chars: 100 };

test("the owner is 'local' without a token, a stable name of the token otherwise, never the token", () => {
  assert.equal(ownerOf(null), "local");
  assert.equal(ownerOf(""), "local");
  assert.equal(ownerOf("tt_alice_secret"), ownerOf("tt_alice_secret"));
  assert.notEqual(ownerOf("tt_alice_secret"), ownerOf("tt_bob_secret"));
  assert.notEqual(ownerOf("tt_alice_secret"), ownerOf("tt_alice_secres"));
  assert.ok(!ownerOf("tt_alice_secret").includes("alice"));
  assert.match(ownerOf("x"), /^t:[0-9a-z]+$/);
});

test("a view is cut to the newest messages within the limits, and then has older messages", () => {
  const messages = [1, 2, 3, 4, 5].map((n) => msg(`m${n}`, n, { content: "x".repeat(10) }));
  const cut = boundView(stored(5, "e", messages), LIMITS);
  assert.deepEqual(cut.messages.map((m) => m.id), ["m3", "m4", "m5"]);
  assert.equal(cut.hasOlder, true);
  assert.equal(cut.lastSeq, 5);
  assert.equal(cut.epoch, "e");
  const whole = boundView(stored(2, "e", messages.slice(0, 2)), LIMITS);
  assert.deepEqual(whole.messages.map((m) => m.id), ["m1", "m2"]);
  assert.equal(whole.hasOlder, false);
});

test("the character budget keeps the newest message even when it alone is over it", () => {
  const big = [msg("m1", 1, { content: "a".repeat(30) }), msg("m2", 2, { content: "b".repeat(80) }),
               msg("m3", 3, { content: "c".repeat(150) })];
  assert.deepEqual(boundView(stored(3, "e", big), LIMITS).messages.map((m) => m.id), ["m3"]);
  assert.deepEqual(boundView(stored(2, "e", big.slice(0, 2)), LIMITS).messages.map((m) => m.id), ["m2"]); // 110 > 100
  const fits = boundView(stored(2, "e", [msg("m1", 1, { content: "a".repeat(20) }), big[1]]), LIMITS);
  assert.deepEqual(fits.messages.map((m) => m.id), ["m1", "m2"]); // 100: within
  assert.equal(boundView(stored(0, "e", [])).messages.length, 0);
});

test("an older state of the same log never replaces the cached one; another log always does", () => {
  const cached = stored(7, "e1");
  assert.equal(shouldReplace(null, stored(1, "e1")), true);
  assert.equal(shouldReplace(cached, stored(6, "e1")), false); // a tab that is behind
  assert.equal(shouldReplace(cached, stored(7, "e1")), true); // same seq: history loaded, say
  assert.equal(shouldReplace(cached, stored(9, "e1")), true);
  assert.equal(shouldReplace(cached, stored(2, "e2")), true); // reset onto a new log
  assert.equal(shouldReplace(stored(7, null), stored(2, null)), true); // no epoch: cannot tell
});

test("a follower starts from the tab's view unless the cache is further along the same log", () => {
  const tab = stored(4, "e1");
  assert.equal(fresherView(tab, null), tab);
  assert.equal(fresherView(null, tab), tab);
  assert.equal(fresherView(null, null), null);
  assert.equal(fresherView(tab, stored(3, "e1")), tab);
  const ahead = stored(6, "e1");
  assert.equal(fresherView(tab, ahead), ahead);
  assert.equal(fresherView(tab, stored(9, "e2")), tab); // another log: the tab's own wins
  const unsynced = { ...stored(0, null), synced: false };
  assert.equal(fresherView(unsynced, ahead), ahead);
  assert.equal(fresherView(unsynced, null), unsynced);
});

test("a record expires once not saved for longer than the limit", () => {
  assert.equal(isExpired({ savedAt: 1000 }, 1500, 1000), false);
  assert.equal(isExpired({ savedAt: 1000 }, 2001, 1000), true);
  assert.equal(isExpired({}, 0, 1000), true);
});
