"""Live state of streaming messages: the text already sent as deltas, and how many chunks.

A subscriber's snapshot of a streaming message comes from here, not from the database (whose
checkpoint lags by up to a second), so it lines up exactly with the ``delta`` chunks that follow:
the text and the chunk count are updated *before* the chunk is emitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.protocol import MessageStatus
from tether.store.rows import MessageRow

log = logging.getLogger("tether.streams")


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


class RedisStreams(LocalStreams):
    """Stream state shared by every node: the owner keeps its streams in memory and mirrors
    each chunk to Redis (text appended, chunk count set, in one MULTI), so a subscriber on
    another node gets a snapshot that lines up with the chunks it receives next."""

    def __init__(self, redis: Any, prefix: str, ttl: int = 3600) -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _keys(self, message_id: str) -> tuple[str, str]:
        base = f"{self.prefix}:stream:{message_id}"
        return base + ":text", base + ":chunks"

    async def published(self, chunks: list[Chunk]) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for stream, chunk, text in chunks:
                    text_key, chunks_key = self._keys(stream.message_id)
                    if stream.message_id in self._dirty:
                        pipe.set(text_key, stream.text)  # a write was lost: rewrite it whole
                    else:
                        pipe.append(text_key, text)
                    pipe.set(chunks_key, chunk + 1)
                    pipe.expire(text_key, self.ttl)
                    pipe.expire(chunks_key, self.ttl)
                await pipe.execute()
            for stream, _, _ in chunks:
                self._dirty.discard(stream.message_id)
        except Exception as exc:
            if not self._dirty.issuperset(stream.message_id for stream, _, _ in chunks):
                log.warning("%d stream(s) not mirrored to Redis: %s", len(chunks), exc)
            self._dirty.update(stream.message_id for stream, _, _ in chunks)

    def close(self, message_id: str) -> None:
        super().close(message_id)
        self._dirty.discard(message_id)
        task = asyncio.get_running_loop().create_task(self._forget(message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forget(self, message_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(*self._keys(message_id))

    async def snapshot(self, message_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        ids = list(message_ids)
        out = await super().snapshot(ids)
        remote = [m for m in ids if m not in out]
        if not remote:
            return out
        keys = [k for m in remote for k in self._keys(m)]
        try:
            values = await self.redis.mget(keys)
        except Exception as exc:
            log.warning("stream snapshot from Redis failed: %s", exc)
            return out
        for index, message_id in enumerate(remote):
            text, chunks = values[2 * index], values[2 * index + 1]
            if text is not None and chunks is not None:
                out[message_id] = (_str(text), int(chunks))
        return out


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
