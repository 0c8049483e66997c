"""Benchmark 1b, structured streaming: the streaming scenario (streaming.py) with answers made of
reasoning, tool calls, status lines and text (bench/agent.py, ``structured``), against the same
scenario with plain text, both on Tether, alternated in one run. Issue 13's target: server CPU
per token within 10 % of plain text.

The same timestamp tokens at the same rate; a structured delta carries them in its ``ops``
(reasoning text, a tool's input, text), so tokens are read from the ops, and the final
message's tokens are counted over its parts. A structured answer also has about 4 % more
events than tokens (a tool call, its input done, its output, a status line per 50 tokens).
"""

from __future__ import annotations

import time
from typing import Any

from bench.agent import token_delays
from bench.procs import ServerProcess
from bench.scenarios.streaming import run_streaming

#: The part fields a token can be streamed into.
TOKEN_FIELDS = ("text", "input_text")


def op_tokens(data: dict[str, Any], received: float) -> list[float]:
    """The delays of the tokens in a structured delta's ``append`` ops."""
    return [delay for op in data.get("ops", ()) if op["op"] == "append"
            for delay in token_delays(op["value"], received)]


def parts_tokens(message: dict[str, Any]) -> int:
    """Tokens in a final message's parts (reasoning, tool inputs and text)."""
    return sum(len((part.get(f) or "").split()) for part in message.get("parts", ())
               if part["type"] != "status" for f in TOKEN_FIELDS)


async def run_structured(server: ServerProcess, tokens: dict[str, str] | None, n: int,
                         per_stream: int, rate: float) -> dict[str, Any]:
    return await run_streaming(server, tokens, n, per_stream, rate, shape="structured",
                               tokens_of=op_tokens, answer_tokens_of=parts_tokens)


def parts_path_cpu(shape: str, streams: int, per_stream: int) -> float:
    """CPU ms per 1,000 tokens of the server's own work on an answer's tokens, in this process:
    each token (and the events around it) through the agent boundary (repaired) into a live
    stream, one chunk taken per token (what coalescing does at the benchmark's rate) and its
    ``delta`` payload encoded as the server encodes packets. The part of the server a
    structured answer changes, without the sockets, whose cost is the same for both shapes and
    whose noise hides a few per cent."""
    from bench.agent import structured_events
    from tether import jsoncodec
    from tether.agents.base import repair_event, repair_text
    from tether.streams import LiveStream

    def events(index: int) -> list[Any]:
        token = f"{1796170000.0 + index / 50:.6f} "
        return structured_events(index, token) if shape == "structured" else [token]

    answer = [events(i) for i in range(per_stream)]
    started = time.process_time()
    for number in range(streams):
        stream = LiveStream("session", f"message-{number}")
        for token_events in answer:
            for event in token_events:  # through the agent boundary, as repaired() does
                if isinstance(event, str):
                    stream.add_text(repair_text(event))
                else:
                    stream.add_event(repair_event(event))
            taken = stream.take_chunk()
            if taken is not None:
                chunk, text, ops = taken
                jsoncodec.dumps(["delta", {"session_id": "session", "message_id":
                                           stream.message_id, "chunk": chunk, "text": text,
                                           "ops": ops}])
        stream.finish(None)
        stream.take_chunk()
    return (time.process_time() - started) / (streams * per_stream) * 1e6
