// Baseline for the reconnect storm: socket.io 4.8 with connectionStateRecovery, no storage.
// Speaks the subset of Tether's protocol the benchmarks use (create_session, subscribe, send)
// with the same event sequence per answer; every event to a session's room carries the session's
// next in-memory seq (message events in message.seq, deltas in "seq"), so the load generator can
// count lost and duplicated packets. Prints "listening on http://127.0.0.1:PORT/".
"use strict";
const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: 25000,
  pingTimeout: 20000,
  transports: ["websocket", "polling"],
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
});
const sessions = new Map();
const now = () => new Date().toISOString();

function sessionOut(s, running) {
  return { id: s.id, title: "New chat", agent: "bench", head_seq: s.head_seq, running,
           archived: false, created_at: s.created_at, updated_at: now() };
}

function newMessage(s, role, content, status, clientMsgId) {
  s.head_seq += 1;
  s.count += 1;
  const t = now();
  return { id: crypto.randomUUID(), session_id: s.id, position: s.count, seq: s.head_seq, role,
           content, status, client_msg_id: clientMsgId || null, chunks: 0, error: null,
           reply_to: null, created_at: t, updated_at: t };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function* benchTokens(prompt) {
  const parts = prompt.split(/\s+/);
  if (parts.length !== 3 || parts[0] !== "bench") { yield "ok"; return; }
  const count = parseInt(parts[1], 10), rate = parseFloat(parts[2]);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const delay = start + (i * 1000) / rate - performance.now();
    if (delay > 0) await sleep(delay);
    yield `${(Date.now() / 1000).toFixed(6)} `;
  }
}

async function reply(s, prompt) {
  const room = "s:" + s.id;
  io.to(room).emit("session", { session: sessionOut(s, true) });
  const answer = newMessage(s, "assistant", "", "streaming");
  io.to(room).emit("message", { session_id: s.id, message: answer });
  let text = "", chunk = 0;
  for await (const token of benchTokens(prompt)) {
    text += token;
    s.head_seq += 1;
    io.to(room).emit("delta", { session_id: s.id, message_id: answer.id, chunk, text: token,
                                seq: s.head_seq });
    chunk += 1;
  }
  s.head_seq += 1;
  const final = { ...answer, content: text, status: "complete", chunks: chunk, seq: s.head_seq,
                  updated_at: now() };
  io.to(room).emit("message", { session_id: s.id, message: final });
}

io.on("connection", (socket) => {
  socket.on("create_session", (data, ack) => {
    const id = (data && data.id) || crypto.randomUUID();
    if (!sessions.has(id)) sessions.set(id, { id, head_seq: 0, count: 0, created_at: now() });
    ack({ ok: true, session: sessionOut(sessions.get(id), false) });
  });
  socket.on("subscribe", (data, ack) => {
    const s = sessions.get(data && data.session_id);
    if (!s) return ack({ ok: false, error: { code: "not_found", message: "no such session" } });
    socket.join("s:" + s.id);
    ack({ ok: true, session: sessionOut(s, false), mode: "recent", head_seq: s.head_seq,
          messages: [] });
  });
  socket.on("send", (data, ack) => {
    const s = sessions.get(data && data.session_id);
    if (!s) return ack({ ok: false, error: { code: "not_found", message: "no such session" } });
    const user = newMessage(s, "user", data.content, "complete", data.client_msg_id);
    io.to("s:" + s.id).emit("message", { session_id: s.id, message: user });
    ack({ ok: true, message: user, duplicate: false });
    reply(s, data.content);
  });
});

// The same accept backlog as tether serve and the python-socketio baseline (Node defaults to
// 511), so a thousand clients reconnecting at once are not left waiting on SYN retries.
httpServer.listen(0, "127.0.0.1", 2048, () => {
  console.log(`node socket.io listening on http://127.0.0.1:${httpServer.address().port}/ `);
});
