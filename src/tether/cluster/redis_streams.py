"""Live stream text shared by every node through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from tether.cluster.names import RedisNames
from tether.streams import Chunk, LocalStreams

log = logging.getLogger("tether.streams")


class RedisStreams(LocalStreams):
    """Stream state shared by every node: the owner keeps its streams in memory and mirrors
    each chunk to Redis (text appended, chunk count set, in one MULTI), so a subscriber on
    another node gets a snapshot that lines up with the chunks it receives next."""

    def __init__(self, redis: Any, names: RedisNames, ttl: int = 3600) -> None:
        super().__init__()
        self.redis = redis
        self.names = names
        self.ttl = ttl
        self._dirty: set[str] = set()
        #: Deletions of ended streams' keys still under way; awaited by :meth:`stop`.
        self._forgetting: set[asyncio.Task[None]] = set()

    async def published(self, chunks: list[Chunk]) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for stream, chunk, text in chunks:
                    text_key, chunks_key = self.names.stream(stream.message_id)
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
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget(self, message_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(*self.names.stream(message_id))

    async def stop(self) -> None:
        """Let the deletions under way finish (they are bounded by the socket timeout)."""
        if self._forgetting:
            await asyncio.gather(*self._forgetting, return_exceptions=True)

    async def snapshot(self, message_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        ids = list(message_ids)
        out = await super().snapshot(ids)
        remote = [m for m in ids if m not in out]
        if not remote:
            return out
        keys = [k for m in remote for k in self.names.stream(m)]
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
