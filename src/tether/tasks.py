"""Background tasks with an owner: referenced while they run, their failures logged, and
cancelled and awaited when the owner closes.

A task nobody keeps a reference to can be garbage-collected mid-flight, and its exception is
never retrieved. ``asyncio.TaskGroup`` owns tasks too, but it lives inside one ``async with``
block and cancels every task when one fails; these owners live as long as a component (the
gateway, a cluster channel) and one failed task must not stop the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("tether.tasks")


class TaskOwner:
    """The background tasks of one component."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in a task this owner keeps until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    @property
    def running(self) -> int:
        """How many of its tasks have not ended yet."""
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task still running and wait until each has ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
