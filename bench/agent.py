"""The ``bench`` agent: tokens at a fixed rate, each carrying the wall-clock time it was yielded.

Prompt ``"bench <tokens> <rate>"`` streams ``tokens`` tokens at ``rate`` per second on an absolute
schedule (no drift), each token being ``"<time.time()> "``, so a client can compute, per token,
the delay from the agent yielding it to the client receiving it. Any other prompt gets one token
``"ok"``. The baseline server uses the same generator, so both sides stream identical text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any


def parse_prompt(prompt: str) -> tuple[int, float] | None:
    parts = prompt.split()
    if len(parts) == 3 and parts[0] == "bench":
        return int(parts[1]), float(parts[2])
    return None


async def bench_tokens(prompt: str) -> AsyncIterator[str]:
    spec = parse_prompt(prompt)
    if spec is None:
        yield "ok"
        return
    count, rate = spec
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield f"{time.time():.6f} "


def token_delays(text: str, received: float) -> list[float]:
    """Delays (s) of the timestamp tokens in a delta's text, received at ``received``."""
    return [received - float(t) for t in text.split()]


class BenchAgent:
    """Tether agent interface (tether.agents.base.Agent) over :func:`bench_tokens`."""

    kind = "bench"
    history = False  # like echo, it reads the last message only

    def __init__(self, name: str = "bench") -> None:
        self.name = name

    def stream(self, turn: Any) -> AsyncIterator[str]:
        return bench_tokens(turn.prompt)
