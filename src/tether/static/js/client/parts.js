// The parts of a structured answer (docs/protocol.md, "Structured answers"), as pure functions.
//
// A message's `parts` is an ordered list of {id, type, ...}; a `delta` carries `ops` that change
// it: start (append a part), append (extend a part's text or input_text), set (replace fields),
// remove (the status line at the end). The chunk rule (merge.js) decides *whether* a delta's ops
// apply; this module only says *how*. Parts are never mutated: a changed part is a new object and
// an unchanged one keeps its identity, so a renderer can skip what did not change.

/** The parts of `message`: its own, or the one text part a message without structure implies. */
export function partsOf(message) {
  if (Array.isArray(message.parts)) return message.parts;
  return message.content ? [{ id: "t0", type: "text", text: message.content }] : [];
}

function applyOp(parts, op) {
  switch (op.op) {
    case "start":
      // A start for an id already present cannot come from a well-behaved server; keep the first.
      return parts.some((p) => p.id === op.part.id) ? parts : [...parts, { ...op.part }];
    case "append":
      return parts.map((p) => (p.id === op.id ? { ...p, [op.field]: (p[op.field] ?? "") + op.value } : p));
    case "set":
      return parts.map((p) => (p.id === op.id ? { ...p, ...op.fields } : p));
    case "remove":
      return parts.filter((p) => p.id !== op.id);
    default:
      return parts; // an op this client does not know: additions to the protocol are allowed
  }
}

/** `parts` with `ops` applied in order (a new array; `parts` is left as it was). */
export function applyOps(parts, ops) {
  return ops.reduce(applyOp, parts);
}

/**
 * The parts after one delta. A delta from a server without structure (no `ops`) only appends
 * `text`: to the last part if it is text, else as a new text part.
 */
export function partsAfterDelta(message, delta) {
  if (Array.isArray(delta.ops)) return applyOps(partsOf(message), delta.ops);
  if (!Array.isArray(message.parts)) return undefined; // derived from content when shown
  if (!delta.text) return message.parts;
  const last = message.parts.at(-1);
  if (last?.type === "text") return applyOp(message.parts, { op: "append", id: last.id, field: "text", value: delta.text });
  return [...message.parts, { id: `t${message.parts.length}`, type: "text", text: delta.text }];
}
