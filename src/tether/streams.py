"""Live state of streaming messages: the text already sent as deltas, and how many chunks.

The cluster seam provides the implementation (``Cluster.streams``): :class:`LocalStreams` for one
process, ``tether.cluster.redis_streams.RedisStreams`` shared by several nodes.

A subscriber's snapshot of a streaming message comes from here, not from the database (whose
checkpoint lags by up to a second), so it lines up exactly with the ``delta`` chunks that follow:
the text and the chunk count are updated *before* the chunk is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tether.protocol import MessageStatus
from tether.store.rows import MessageRow


@dataclass(slots=True)
class LiveStream:
    """One streaming message's text as sent so far."""

    session_id: str
    message_id: str
    chunks: int = 0
    pending: list[str] = field(default_factory=list)
    #: The text sent so far, in pieces: joined only when read, so a long answer is not copied
    #: again with every chunk.
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts = self.parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def take_chunk(self) -> tuple[int, str] | None:
        """Move the pending text into the next chunk: (chunk number, text), or None."""
        if not self.pending:
            return None
        piece = self.pending[0] if len(self.pending) == 1 else "".join(self.pending)
        self.pending.clear()
        chunk = self.chunks
        self.parts.append(piece)
        self.chunks += 1
        return chunk, piece


#: A chunk taken from a stream: (stream, chunk number, text).
Chunk = tuple[LiveStream, int, str]


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

    async def snapshot(self, message_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """(text, chunks) of those messages that are streaming here."""
        out = {}
        for message_id in message_ids:
            stream = self._streams.get(message_id)
            if stream is not None:
                out[message_id] = (stream.text, stream.chunks)
        return out


async def overlay_live_text(
    streams: LocalStreams, rows: list[MessageRow]
) -> list[MessageRow]:
    """Replace the checkpointed text of streaming messages with their live text."""
    ids = [r["id"] for r in rows if r["status"] == MessageStatus.STREAMING]
    if not ids:
        return rows
    live = await streams.snapshot(ids)
    for row in rows:
        state = live.get(row["id"])
        if state is not None and row["status"] == MessageStatus.STREAMING:
            row["content"], row["chunks"] = state
    return rows
