"""The ``bench`` agent: tokens at a fixed rate, each carrying the wall-clock time it was yielded.

Prompt ``"bench <tokens> <rate>"`` streams ``tokens`` tokens at ``rate`` per second on an absolute
schedule (no drift), each token being ``"<time.time()> "``, so a client can compute, per token,
the delay from the agent yielding it to the client receiving it. ``"prose <tokens> <rate>"``
streams markdown prose instead (paragraphs of 60 words, some bold and code, a list now and then),
an answer as a chat app renders it (the browser benchmark). Any other prompt gets one token
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


def prose_word(index: int) -> str:
    """Token ``index`` of the prose answer: a word, with markdown and paragraph breaks."""
    word = ("the", "quick", "brown", "fox", "jumps", "over", "**lazy**", "`dog`")[index % 8]
    if index % 600 == 599:
        return "\n\n- a list item\n- another item\n\n"
    return word + ("\n\n" if index % 60 == 59 else " ")


async def bench_tokens(prompt: str) -> AsyncIterator[str]:
    words = prompt.split()
    prose = bool(words) and words[0] == "prose"
    spec = parse_prompt(" ".join(["bench", *words[1:]]) if prose else prompt)
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
        yield prose_word(index) if prose else f"{time.time():.6f} "


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
