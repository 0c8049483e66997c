// The Connection's links (links.js): only the current link is heard, and the wake-up race's spare
// takes over in the right order. Links here are fakes with hooks that record what was done to them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConnectMeter } from "../../src/tether/static/js/client/connmeter.js";
import { Links } from "../../src/tether/static/js/client/links.js";

/** A SocketLink stand-in: `handlers` to fire its events, `done` to end its preopen. */
function fakeLink(handlers, calls, name) {
  const record = (what) => () => calls.push(`${name}.${what}`);
  return {
    name, handlers, done: null,
    restart: record("restart"), close: record("close"), connect: record("connect"),
    failInflight: record("failInflight"),
    preopen(done) { calls.push(`${name}.preopen`); this.done = done; },
  };
}

function setup() {
  const t = { calls: [], opened: [], heard: [], dead: [], connected: true };
  t.meter = new ConnectMeter({ fresh: 0, kept: 0 });
  t.links = new Links({
    open: (handlers) => {
      const link = fakeLink(handlers, t.calls, `link${t.opened.length}`);
      t.opened.push(link);
      return link;
    },
    handlers: {
      onConnect: () => t.heard.push("connect"),
      onDisconnect: (reason) => t.heard.push(`disconnect ${reason}`),
      onConnectError: () => t.heard.push("connect_error"),
      onEvent: (name) => t.heard.push(`event ${name}`),
    },
    connected: () => t.connected, meter: t.meter,
    onDead: (reason, startedAt) => t.dead.push({ reason, startedAt }),
    onLeave: () => t.calls.push("onLeave"),
    onReplaced: (reason) => t.calls.push(`onReplaced ${reason}`),
  });
  return t;
}

test("only the current link is heard; a replaced one is not, whatever it still fires", () => {
  const t = setup();
  const [first] = t.opened;
  first.handlers.onEvent("message");
  t.links.startRace("away 6000ms", 100);
  const spare = t.opened[1];
  spare.handlers.onEvent("message");
  spare.handlers.onConnect();
  assert.deepEqual(t.heard, ["event message"], "the spare is not heard while it races");
  t.connected = false;
  spare.done(); // opened after the old link went down: it takes over
  assert.equal(t.links.link, spare);
  first.handlers.onDisconnect("transport close");
  first.handlers.onEvent("delta");
  spare.handlers.onConnect();
  assert.deepEqual(t.heard, ["event message", "connect"]);
});

test("a hand-over retires the old link in order: probe cancelled, requests failed, closed, told", () => {
  const t = setup();
  t.links.startRace("away", 100);
  t.calls.length = 0;
  t.links.adopt("wake: visible");
  assert.deepEqual(t.calls, [
    "onLeave", "link0.failInflight", "link0.close", "onReplaced wake: visible", "link1.connect",
  ]);
  assert.deepEqual(t.meter.stats.races, { fresh: 1, kept: 0 });
});

test("after the old link closed by itself, the hand-over only joins the spare", () => {
  const t = setup();
  t.links.startRace("away", 100);
  t.calls.length = 0;
  t.links.adopt("the old connection closed", { closed: true });
  assert.deepEqual(t.calls, ["link1.connect"]);
});

test("a new attempt restarts the link, or lets a spare already opening take over", () => {
  const t = setup();
  t.links.restart("start");
  assert.deepEqual(t.calls, ["link0.restart"]);
  t.links.startRace("away", 100);
  t.links.restart("drop: probe timeout");
  assert.equal(t.links.link, t.opened[1]);
  assert.equal(t.calls.at(-1), "link1.connect");
  assert.equal(t.calls.includes("link1.restart"), false);
});

test("a race starts only while connected and not racing, and counts the recovery from its start", () => {
  const t = setup();
  t.connected = false;
  t.links.startRace("away", 100);
  assert.equal(t.opened.length, 1, "no race while not connected");
  t.connected = true;
  t.links.startRace("away", 200);
  t.links.startRace("away again", 300);
  assert.equal(t.opened.length, 2, "one spare at a time");
  assert.equal(t.meter.startedAt, 200);
});

test("the spare opening while the old link says connected: the old one is dead", () => {
  const t = setup();
  t.links.startRace("away", 250);
  t.opened[1].done();
  assert.deepEqual(t.dead, [{ reason: "the fresh connection opened before the probe was answered", startedAt: 250 }]);
});

test("an answered probe keeps the old link: the spare closes, a kept race, nothing to recover", () => {
  const t = setup();
  t.links.alive();
  assert.deepEqual(t.meter.stats.races, { fresh: 0, kept: 0 }, "no race, nothing counted");
  t.links.startRace("away", 400);
  t.links.alive();
  assert.equal(t.calls.at(-1), "link1.close");
  assert.equal(t.links.link, t.opened[0]);
  assert.equal(t.links.race.running, false);
  assert.deepEqual(t.meter.stats.races, { fresh: 0, kept: 1 });
  assert.equal(t.meter.startedAt, null);
});
