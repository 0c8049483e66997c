"""The one polling wait of the tests: a condition, a timeout, and a message that says what."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def until(
    predicate: Callable[[], Any], timeout: float = 10, what: str = "condition",
    interval: float = 0.01,
) -> Any:
    """Return ``predicate()``'s first truthy value (awaited if it is awaitable), asking every
    ``interval`` seconds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
