"""The built-in ``echo`` agent: answers "Echo: <text>" word by word, for demos and tests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from tether.agents.base import Turn

_WORD = re.compile(r"\S+\s*")


class EchoAgent:
    """Streams ``"Echo: " + prompt`` one word (with its trailing white space) at a time."""

    kind = "echo"
    history = False  # echoes the last message only

    def __init__(self, name: str = "echo", delay: float = 0.03) -> None:
        self.name = name
        self.delay = delay

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        for index, word in enumerate(_WORD.findall("Echo: " + turn.prompt)):
            if index and self.delay > 0:
                await asyncio.sleep(self.delay)
            yield word
