"""The ``bench`` agent: tokens at a fixed rate, each carrying the wall-clock time it was yielded.

Prompt ``"bench <tokens> <rate>"`` streams ``tokens`` tokens at ``rate`` per second on an absolute
schedule (no drift), each token being ``"<time.time()> "``, so a client can compute, per token,
the delay from the agent yielding it to the client receiving it. ``"prose <tokens> <rate>"``
streams markdown prose instead (paragraphs of 60 words, some bold and code, a list now and then),
an answer as a chat app renders it (the browser benchmark). ``"structured <tokens> <rate>"``
streams the same timestamp tokens as a structured answer (bench/scenarios/structured.py): in
rounds of 50, 20 as reasoning, 10 as a tool call's input (the call starting, its input done,
its output and a status line around them), 20 as text. Any other prompt gets one token
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


def _events() -> Any:
    """tether.agents.events, imported once (the baseline server runs without tether)."""
    global _EVENTS
    if _EVENTS is None:
        from tether.agents import events

        _EVENTS = events
    return _EVENTS


_EVENTS: Any = None

#: A structured answer's round: how many of its tokens go to reasoning, tool input and text.
ROUND = (20, 10, 20)


def structured_events(index: int, token: str) -> list[Any]:
    """What token ``index`` of a structured answer is yielded as, with the events around it."""
    ev = _events()
    reasoning, tool, _ = ROUND
    at, call = index % sum(ROUND), f"call_{index // sum(ROUND)}"
    if at < reasoning:
        return [ev.Reasoning(token)]
    if at < reasoning + tool:
        start = [ev.ToolCall(call, "search"), ev.Status("searching…")] if at == reasoning else []
        done = [ev.ToolInputDone(call, {"q": call}), ev.ToolOutput(call, {"hits": 3})] \
            if at == reasoning + tool - 1 else []
        return [*start, ev.ToolInput(call, token), *done]
    return [token]


async def bench_tokens(prompt: str) -> AsyncIterator[Any]:
    words = prompt.split()
    shape = words[0] if words and words[0] in ("prose", "structured") else "bench"
    spec = parse_prompt(" ".join(["bench", *words[1:]]) if shape != "bench" else prompt)
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
        if shape == "prose":
            yield prose_word(index)
        elif shape == "structured":
            for event in structured_events(index, f"{time.time():.6f} "):
                yield event
        else:
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

    def stream(self, turn: Any) -> AsyncIterator[Any]:
        return bench_tokens(turn.prompt)
