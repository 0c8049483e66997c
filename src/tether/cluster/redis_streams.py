"""Live stream text shared by every node through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from tether.cluster.names import RedisNames
from tether.parts import Part, apply_ops
from tether.streams import Chunk, LiveState, LocalStreams

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
                for stream, chunk, text, ops in chunks:
                    text_key, chunks_key = self.names.stream(stream.message_id)
                    ops_key = self.names.stream_ops(stream.message_id)
                    if stream.message_id in self._dirty:
                        # A write was lost: rewrite it whole (the parts as one chunk of starts).
                        pipe.set(text_key, stream.text)
                        pipe.delete(ops_key)
                        rebuilt = [{"op": "start", "part": part} for part in stream.parts]
                        pipe.rpush(ops_key, json.dumps(rebuilt))
                    else:
                        pipe.append(text_key, text)
                        # The ops are appended, not the parts rewritten: a chunk costs Redis
                        # its own size, never the size of the answer so far.
                        pipe.rpush(ops_key, json.dumps(ops))
                    pipe.set(chunks_key, chunk + 1)
                    pipe.expire(text_key, self.ttl)
                    pipe.expire(chunks_key, self.ttl)
                    pipe.expire(ops_key, self.ttl)
                await pipe.execute()
            for stream, *_ in chunks:
                self._dirty.discard(stream.message_id)
        except Exception as exc:
            if not self._dirty.issuperset(stream.message_id for stream, *_ in chunks):
                log.warning("%d stream(s) not mirrored to Redis: %s", len(chunks), exc)
            self._dirty.update(stream.message_id for stream, *_ in chunks)

    def close(self, message_id: str) -> None:
        super().close(message_id)
        self._dirty.discard(message_id)
        task = asyncio.get_running_loop().create_task(self._forget(message_id))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget(self, message_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(
                *self.names.stream(message_id), self.names.stream_ops(message_id)
            )

    async def stop(self) -> None:
        """Let the deletions under way finish (they are bounded by the socket timeout)."""
        if self._forgetting:
            await asyncio.gather(*self._forgetting, return_exceptions=True)

    async def snapshot(self, message_ids: Iterable[str]) -> dict[str, LiveState]:
        ids = list(message_ids)
        out = await super().snapshot(ids)
        remote = [m for m in ids if m not in out]
        if not remote:
            return out
        keys = [k for m in remote for k in self.names.stream(m)]
        try:
            # One transaction, so the text, the count and the ops are of the same chunk.
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.mget(keys)
                for message_id in remote:
                    pipe.lrange(self.names.stream_ops(message_id), 0, -1)
                values, *op_lists = await pipe.execute()
        except Exception as exc:
            log.warning("stream snapshot from Redis failed: %s", exc)
            return out
        for index, message_id in enumerate(remote):
            text, chunks = values[2 * index], values[2 * index + 1]
            if text is not None and chunks is not None:
                parts: list[Part] = []
                for chunk_ops in op_lists[index]:
                    apply_ops(parts, json.loads(chunk_ops))
                out[message_id] = (_str(text), int(chunks), parts)
        return out


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
