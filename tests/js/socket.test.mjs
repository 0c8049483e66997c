import assert from "node:assert/strict";
import { test } from "node:test";

import { SocketLink } from "../../src/tether/static/js/client/socket.js";
import { FakeClock, fakeIo } from "./support/fakes.mjs";

function setup() {
  const clock = new FakeClock();
  const io = fakeIo();
  const seen = [];
  const link = new SocketLink({
    io, url: "http://127.0.0.1:1", auth: () => ({ client_id: "tab" }), timers: clock,
    options: { connectTimeout: 8000, transports: ["websocket"] },
    handlers: {
      onConnect: () => seen.push("connect"),
      onDisconnect: (reason, { expected }) => seen.push(`disconnect ${reason} expected=${expected}`),
      onConnectError: (error) => seen.push(`error ${error.message}`),
      onEvent: (name) => seen.push(`event ${name}`),
    },
  });
  return { clock, link, socket: io.sockets[0], seen };
}

test("built with socket.io-client's reconnection and autoConnect off", () => {
  const { socket } = setup();
  assert.equal(socket.options.reconnection, false);
  assert.equal(socket.options.autoConnect, false);
  assert.equal(socket.options.timeout, 8000);
});

test("requests go out only when up; down, they fail at once and nothing is buffered", () => {
  const { link, socket } = setup();
  socket.connect();
  socket.accept();
  assert.equal(link.push("x", {}, { timeout: 100, up: false }).outcome.response.code, "unavailable");
  assert.equal(socket.requests("x").length, 0);
  const push = link.push("x", {}, { timeout: 100, up: true });
  assert.equal(socket.requests("x").length, 1);
  link.failInflight();
  assert.equal(push.outcome.status, "timeout");
});

test("anything received touches lastReceivedAt; restart reports its own disconnect as expected", () => {
  const { clock, link, socket, seen } = setup();
  socket.connect();
  clock.advance(5);
  socket.accept();
  assert.equal(link.lastReceivedAt, clock.now());
  clock.advance(100);
  socket.managerHandlers.get("ping")();
  assert.equal(link.lastReceivedAt, clock.now());
  clock.advance(100);
  socket.fire("message", {});
  assert.equal(link.lastReceivedAt, clock.now());
  link.restart();
  assert.equal(socket.opening, true, "a new attempt at once");
  socket.close("transport close");
  assert.deepEqual(seen, ["connect", "event message", "disconnect io client disconnect expected=true",
    "disconnect transport close expected=false"]);
});

test("the client reads no private field of socket.io-client (its minified build renames them)", async () => {
  const { readdir, readFile } = await import("node:fs/promises");
  const dir = new URL("../../src/tether/static/js/client/", import.meta.url);
  const offenders = [];
  for (const name of await readdir(dir)) {
    const source = await readFile(new URL(name, dir), "utf8");
    for (const match of source.matchAll(/\b(?:engine|socket|io)\??\.(_[A-Za-z]\w*)/g)) offenders.push(`${name}: ${match[0]}`);
  }
  assert.deepEqual(offenders, []);
});
