// Builders of protocol objects for tests.

export function msg(id, seq, extra = {}) {
  return {
    id,
    session_id: "s1",
    position: extra.position ?? Number(String(id).replace(/\D/g, "")) ?? 1,
    seq,
    role: "user",
    content: `text of ${id}`,
    status: "complete",
    client_msg_id: null,
    chunks: 0,
    error: null,
    created_at: "2024-01-01T00:00:00Z",
    updated_at: "2024-01-01T00:00:00Z",
    ...extra,
  };
}

export function streaming(id, seq, content, chunks, extra = {}) {
  return msg(id, seq, { role: "assistant", status: "streaming", content, chunks, ...extra });
}

export function delta(messageId, chunk, text) {
  return { session_id: "s1", message_id: messageId, chunk, text };
}

export function ack(mode, headSeq, messages) {
  return {
    ok: true,
    mode,
    head_seq: headSeq,
    messages,
    session: { id: "s1", title: "t", agent: "echo", head_seq: headSeq, running: false, archived: false },
  };
}
