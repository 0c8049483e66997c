"""A queue and an event for every connection, in a fraction of asyncio's memory.

Each idle connection holds two ``asyncio.Queue`` objects (python-engineio's send queue, uvicorn's
receive queue) and one ``asyncio.Event`` (uvicorn's ``writable``). An ``asyncio.Queue`` makes four
``collections.deque`` at once (its items, getters, putters, and its ``_finished`` event's waiters),
an ``Event`` one more, and an empty deque already holds a 64-slot block: about 760 bytes each as
tracemalloc counts, so 6.8 KiB of a connection's 37 KiB did nothing but wait
(docs/performance.md, "idle memory"). :class:`SlimQueue` and :class:`SlimEvent` keep the same
behaviour for what their users call (``put``, ``put_nowait``, ``get``, ``get_nowait``, ``empty``,
``qsize``, ``task_done``, ``join``; ``set``, ``clear``, ``is_set``, ``wait``) and make their
containers only while something is in them or waiting on them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


def _wake_first(waiters: list[asyncio.Future[None]]) -> None:
    """Wake the first waiter still waiting, as ``asyncio.Queue._wakeup_next`` does."""
    while waiters:
        waiter = waiters.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            return


async def _wait_in(owner: Any, slot: str) -> None:
    """Wait on a new future kept in ``owner``'s list ``slot``, a list made when the first
    waiter comes and dropped when the last one leaves."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters: list[asyncio.Future[None]] | None = getattr(owner, slot)
    if waiters is None:
        waiters = []
        setattr(owner, slot, waiters)
    waiters.append(waiter)
    try:
        await waiter
    finally:
        waiter.cancel()  # no-op when it was woken
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters and getattr(owner, slot) is waiters:
            setattr(owner, slot, None)


class SlimQueue:
    """An unbounded FIFO with ``asyncio.Queue``'s interface (never full), whose deque exists only
    while it holds items and whose waiter lists only while someone waits."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0

    def qsize(self) -> int:
        items = self._items
        return len(items) if items is not None else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return False

    def _put(self, item: Any) -> None:
        """Append ``item`` (the hook a subclass counts with, as in ``asyncio.Queue``)."""
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(item)

    def _get(self) -> Any:
        """Take the first item (the queue is not empty)."""
        items = self._items
        assert items is not None
        item = items.popleft()
        if not items:
            self._items = None
        return item

    def put_nowait(self, item: Any) -> None:
        self._put(item)
        self._unfinished += 1
        getters = self._getters
        if getters:
            _wake_first(getters)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._get()

    async def get(self) -> Any:
        while not self._items:
            try:
                await _wait_in(self, "_getters")
            except BaseException:
                if self._items and self._getters:
                    _wake_first(self._getters)  # it may have been woken for an item it won't take
                raise
        return self._get()

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if not self._unfinished and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished:
            await _wait_in(self, "_joiners")


class SlimEvent:
    """``asyncio.Event`` whose waiter list exists only while someone waits."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            waiters, self._waiters = self._waiters, None
            for waiter in waiters or ():
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> bool:
        if not self._flag:
            await _wait_in(self, "_waiters")
        return True
