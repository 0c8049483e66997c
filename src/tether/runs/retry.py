"""Waiting out the database: a run's storage calls retry while it is unreachable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential,
)

from tether.store import is_unavailable

log = logging.getLogger("tether.runs")

T = TypeVar("T")

#: How long a run keeps retrying a write while the database is unreachable.
PATIENCE = 120.0
#: The wait after the first failure (then doubling, to at most 5 s).
FIRST_WAIT = 0.2


async def patiently(
    call: Callable[[], Awaitable[T]], what: str, patience: float | None = PATIENCE
) -> T:
    """``call()``, retried (0.2 s doubling to 5 s) while it fails because the database is
    down or busy, for at most ``patience`` seconds (None: for ever); other errors, and the
    last one once patience runs out, are raised. An answer that was produced must not stay
    ``streaming``, or end ``failed``, because the database blinked."""

    # The first attempt outside tenacity: nearly every call succeeds at once, and building and
    # iterating a retrying loop per call was 18 % of a loaded server's samples (persistence
    # profile, docs/performance.md). The schedule after a failure is tenacity's, as before.
    try:
        return await call()
    except Exception as exc:
        if not is_unavailable(exc) or patience == 0:
            raise
        log.warning("%s waits for the database: %s", what, exc)
    await asyncio.sleep(FIRST_WAIT)

    def waiting(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning("%s waits for the database: %s", what, exc)

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_unavailable),
        wait=wait_exponential(multiplier=0.1, min=FIRST_WAIT, max=5.0),
        stop=stop_never if patience is None else stop_after_delay(max(0.0, patience - FIRST_WAIT)),
        before_sleep=waiting,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("tenacity ends with a result or an exception")  # pragma: no cover
