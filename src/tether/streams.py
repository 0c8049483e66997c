"""Live state of streaming messages: the text and parts already sent as deltas, and how many
chunks.

The cluster seam provides the implementation (``Cluster.streams``): :class:`LocalStreams` for one
process, ``tether.cluster.redis_streams.RedisStreams`` shared by several nodes.

A subscriber's snapshot of a streaming message comes from here, not from the database (whose
checkpoint lags by up to a second), so it lines up exactly with the ``delta`` chunks that follow:
the text and the chunk count are updated *before* the chunk is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tether.agents.events import Event, PartsBuilder, Text, checked
from tether.parts import Op, Part, apply_ops, copy_parts, finishing_ops
from tether.protocol import MessageStatus
from tether.store.rows import MessageRow


@dataclass(slots=True)
class LiveStream:
    """One streaming message's text and parts as sent so far, and what waits for the next chunk.

    Text is the hot path: it is appended to ``pending`` and becomes one ``append`` op of the
    current text part when the chunk is taken. Any other event's ops wait in ``pending_ops``
    (text pending before them is sealed into an op first, so the order is kept)."""

    session_id: str
    message_id: str
    chunks: int = 0
    pending: list[str] = field(default_factory=list)
    #: The text sent so far, in pieces: joined only when read, so a long answer is not copied
    #: again with every chunk.
    pieces: list[str] = field(default_factory=list)
    #: The parts as of chunk ``chunks - 1`` (the ops of chunks 0..chunks-1 applied).
    parts: list[Part] = field(default_factory=list)
    pending_ops: list[Op] = field(default_factory=list)
    _pending_text: list[str] = field(default_factory=list)  # text already sealed into ops
    builder: PartsBuilder = field(default_factory=PartsBuilder)

    @property
    def text(self) -> str:
        pieces = self.pieces
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    @property
    def has_pending(self) -> bool:
        """Whether anything (text or another event's ops) waits for the next chunk."""
        return bool(self.pending or self.pending_ops)

    def add_text(self, text: str) -> None:
        """Text to append to the answer (a text part starts when the last part was not text)."""
        if self.builder.text_id is None:
            self._seal_text()
            self.pending_ops.extend(self.builder.text_part())
        self.pending.append(text)

    def add_event(self, event: Event) -> None:
        """A structured event of the agent (tether.agents.events)."""
        if isinstance(event, str | Text):
            self.add_text(event if isinstance(event, str) else checked(event).text)
            return
        # The text pending so far belongs to the current text part: seal it into its op
        # before the event (which may end that part) is turned into ops.
        self._seal_text()
        self.pending_ops.extend(self.builder.ops(event))

    def finish(self, reason: str | None) -> None:
        """Queue the ops that end the parts (tether.parts.finishing_ops) for the last chunk."""
        self._seal_text()
        preview = copy_parts(self.parts)
        apply_ops(preview, self.pending_ops)
        self.pending_ops.extend(finishing_ops(preview, reason))

    def _seal_text(self) -> None:
        if self.pending:
            text = self.pending[0] if len(self.pending) == 1 else "".join(self.pending)
            self.pending.clear()
            assert self.builder.text_id is not None
            self.pending_ops.append(
                {"op": "append", "id": self.builder.text_id, "field": "text", "value": text}
            )
            self._pending_text.append(text)

    def take_chunk(self) -> tuple[int, str, list[Op]] | None:
        """Move what is pending into the next chunk: (chunk number, text, ops), or None."""
        if not self.pending and not self.pending_ops:
            return None
        self._seal_text()
        ops, self.pending_ops = self.pending_ops, []
        piece = "".join(self._pending_text)
        self._pending_text.clear()
        apply_ops(self.parts, ops)
        chunk = self.chunks
        if piece:
            self.pieces.append(piece)
        self.chunks += 1
        return chunk, piece, ops


#: A chunk taken from a stream: (stream, chunk number, text, ops).
Chunk = tuple[LiveStream, int, str, list[Op]]
#: A streaming message's live state: (content, chunks, parts).
LiveState = tuple[str, int, list[Part]]


class LocalStreams:
    """Stream state held in this process (one node). Same contract as a shared store."""

    def __init__(self) -> None:
        self._streams: dict[str, LiveStream] = {}

    def open(self, session_id: str, message_id: str) -> LiveStream:
        stream = LiveStream(session_id, message_id)
        self._streams[message_id] = stream
        return stream

    def close(self, message_id: str) -> None:
        self._streams.pop(message_id, None)

    async def published(self, chunks: list[Chunk]) -> None:
        """Called with the chunks just taken (before they are emitted); a shared store records
        them here, all in one round trip."""

    async def snapshot(self, message_ids: Iterable[str]) -> dict[str, LiveState]:
        """(text, chunks, parts) of those messages that are streaming here."""
        out = {}
        for message_id in message_ids:
            stream = self._streams.get(message_id)
            if stream is not None:
                out[message_id] = (stream.text, stream.chunks, copy_parts(stream.parts))
        return out


async def overlay_live_text(
    streams: LocalStreams, rows: list[MessageRow]
) -> list[MessageRow]:
    """Replace the checkpointed text and parts of streaming messages with their live ones."""
    ids = [r["id"] for r in rows if r["status"] == MessageStatus.STREAMING]
    if not ids:
        return rows
    live = await streams.snapshot(ids)
    for row in rows:
        state = live.get(row["id"])
        if state is not None and row["status"] == MessageStatus.STREAMING:
            row["content"], row["chunks"], row["parts"] = state
    return rows
