// ChatCache over in-memory records and a fake clock: coalesced writes, per-owner records,
// bounds, and storage that fails.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChatCache } from "../../src/tether/static/js/client/cache.js";
import { FakeClock } from "./support/fakes.mjs";
import { msg } from "./support/messages.mjs";
import { MemoryRecords } from "./support/records.mjs";

const view = (lastSeq, epoch, ids = []) => ({
  v: 1, lastSeq, synced: true, hasOlder: false, epoch, messages: ids.map((id, i) => msg(id, i + 1)),
});

function setup({ records = new MemoryRecords(), limits = {} } = {}) {
  const clock = new FakeClock();
  const lines = [];
  const cache = new ChatCache({ records, timers: clock, limits, log: (level, line) => lines.push({ level, line }) });
  return { clock, records, cache, lines };
}

test("what is saved is written once, after the flush delay, and read back by the next page", async () => {
  const t = setup();
  await t.cache.load("local");
  t.cache.saveView("s1", view(2, "e1", ["m1", "m2"]));
  t.cache.saveView("s1", view(3, "e1", ["m1", "m2", "m3"]));
  t.cache.saveSessions([{ id: "s1", title: "kept", updated_at: "2024-01-01T00:00:00Z" }]);
  assert.equal(t.records.writes, 0);
  t.clock.advance(1000);
  await t.cache.writing;
  assert.equal(t.records.writes, 1);
  assert.deepEqual(t.records.keys, ["sessions", "view:s1"]);

  const next = setup({ records: t.records });
  await next.cache.load("local");
  assert.equal(next.cache.view("s1").lastSeq, 3);
  assert.deepEqual(next.cache.view("s1").messages.map((m) => m.id), ["m1", "m2", "m3"]);
  assert.deepEqual(next.cache.sessions.map((s) => s.id), ["s1"]);
});

test("a load keeps only the owner's records, and deletes other owners' and expired ones", async () => {
  const now = new FakeClock().now();
  const records = new MemoryRecords([
    { key: "view:a", owner: "t:alice", savedAt: now, sessionId: "a", view: view(1, "e") },
    { key: "view:old", owner: "t:bob", savedAt: now - 31 * 24 * 3600 * 1000, sessionId: "old", view: view(1, "e") },
    { key: "view:b", owner: "t:bob", savedAt: now, sessionId: "b", view: view(1, "e") },
    { key: "sessions", owner: "t:alice", savedAt: now, sessions: [{ id: "a" }] },
  ]);
  const t = setup({ records });
  await t.cache.load("t:bob");
  assert.equal(t.cache.view("a"), null);
  assert.equal(t.cache.view("old"), null);
  assert.equal(t.cache.view("b").lastSeq, 1);
  assert.deepEqual(t.cache.sessions, []);
  await t.cache.flush();
  assert.deepEqual(records.keys, ["view:b"]);
});

test("at most `views` sessions keep their messages: the least recently saved go, from storage too", async () => {
  const t = setup({ limits: { views: 2 } });
  await t.cache.load("local");
  t.cache.saveView("s1", view(1, "e"));
  t.cache.saveView("s2", view(1, "e"));
  await t.cache.flush();
  t.cache.saveView("s1", view(2, "e")); // s1 is now the most recent
  t.cache.saveView("s3", view(1, "e"));
  await t.cache.flush();
  assert.deepEqual([...t.cache.views.keys()], ["s1", "s3"]);
  assert.deepEqual(t.records.keys, ["view:s1", "view:s3"]);
});

test("a view is stored cut to the bounds", async () => {
  const t = setup({ limits: { messages: 2 } });
  await t.cache.load("local");
  t.cache.saveView("s1", view(4, "e", ["m1", "m2", "m3", "m4"]));
  await t.cache.flush();
  const stored = t.records.get("view:s1").view;
  assert.deepEqual(stored.messages.map((m) => m.id), ["m3", "m4"]);
  assert.equal(stored.hasOlder, true);
});

test("an older view of the same log is not stored; a reset onto a new log replaces the old one", async () => {
  const t = setup();
  await t.cache.load("local");
  t.cache.saveView("s1", view(5, "e1", ["m1", "m2"]));
  t.cache.saveView("s1", view(3, "e1", ["m1"]));
  assert.equal(t.cache.view("s1").lastSeq, 5);
  t.cache.saveView("s1", view(1, "e2", ["n1"]));
  await t.cache.flush();
  assert.deepEqual(t.records.get("view:s1").view.messages.map((m) => m.id), ["n1"]);
  assert.equal(t.records.get("view:s1").view.epoch, "e2");
});

test("forget clears every record, and what is saved next is the new owner's", async () => {
  const t = setup();
  await t.cache.load("t:alice");
  t.cache.saveView("s1", view(2, "e"));
  await t.cache.flush();
  t.cache.saveView("s2", view(1, "e")); // waiting: must not be written for alice, or at all
  await t.cache.forget("t:bob");
  assert.deepEqual(t.records.keys, []);
  assert.equal(t.cache.view("s1"), null);
  t.cache.saveSessions([{ id: "b1" }]);
  await t.cache.flush();
  assert.deepEqual(t.records.keys, ["sessions"]);
  assert.equal(t.records.get("sessions").owner, "t:bob");
  const alice = setup({ records: t.records });
  await alice.cache.load("t:alice");
  assert.deepEqual(alice.cache.sessions, []);
});

test("storage that fails never throws: the cache works in memory and says why", async () => {
  const records = new MemoryRecords();
  records.failing = true;
  const t = setup({ records });
  await t.cache.load("local");
  t.cache.saveView("s1", view(1, "e"));
  assert.equal(t.cache.view("s1").lastSeq, 1);
  await t.cache.flush();
  await t.cache.forget("local");
  assert.ok(t.lines.some((l) => l.level === "warn" && l.line.includes("not read")));
  assert.ok(t.lines.some((l) => l.level === "warn" && l.line.includes("not written")));
  assert.ok(t.lines.some((l) => l.level === "warn" && l.line.includes("not cleared")));
});

test("without records (no IndexedDB) nothing is kept and nothing fails", async () => {
  const t = setup({ records: null });
  await t.cache.load("local");
  t.cache.saveView("s1", view(1, "e"));
  await t.cache.flush();
  assert.equal(t.cache.view("s1").lastSeq, 1);
});
