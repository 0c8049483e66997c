"""A tiny OpenAI-compatible Chat Completions server for tests, on 127.0.0.1 port 0.

A raw asyncio server rather than a web framework, so a test can make the connection misbehave
exactly: cut it mid-body, stall, or send lines no framework would. The base URL names the
scenario: ``{url}/<scenario>/v1``; :data:`SCENARIOS` lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def chunk(text: str | None = None, finish: str | None = None) -> str:
    """One streaming event in the Chat Completions format."""
    delta = {} if text is None else {"content": text}
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


HELLO = [
    'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n\n',
    chunk("Hel"),
    ": keep-alive comment\n\n",
    "event: message\nid: 3\n" + chunk("lo"),
    chunk(" wörld"),
    chunk(finish="stop"),
    'data: {"choices": [], "usage": {"total_tokens": 9}}\n\n',
    "data: [DONE]\n\n",
]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ChatServer:
    """Records every request; ``release`` ends stalled answers at teardown."""

    port: int = 0
    requests: list[Request] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/{scenario}/v1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode().split("\r\n")
            method, path, _ = request_line.split(" ")
            headers = {}
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Request(method, path, headers, json.loads(body or b"null")))
            scenario = path.split("/")[1]
            await SCENARIOS[scenario](self, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def stall(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 30)


async def _respond(
    writer: asyncio.StreamWriter, status: str, ctype: str, body: bytes | str
) -> None:
    data = body.encode() if isinstance(body, str) else body
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + data
    )
    await writer.drain()


async def _start_stream(writer: asyncio.StreamWriter, chunked: bool = True) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else "Connection: close"
    writer.write(
        f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{framing}\r\n\r\n".encode()
    )
    await writer.drain()


async def _send(writer: asyncio.StreamWriter, text: str, chunked: bool = True) -> None:
    data = text.encode()
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
    await writer.drain()
    await asyncio.sleep(0.01)  # separate TCP segments, as a real server's would be


async def _end(writer: asyncio.StreamWriter) -> None:
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def ok(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    for event in HELLO:
        await _send(writer, event)
    await _end(writer)


async def split(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """One event split across writes, mid-line and mid-character, with CRLF line ends."""
    await _start_stream(writer)
    raw = chunk("split ünïcode").replace("\n", "\r\n") + "data: [DONE]\r\n\r\n"
    data = raw.encode()
    cut = data.index("ü".encode()) + 1
    for piece in (data[:10], data[10:cut], data[cut:]):
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
    await _end(writer)


async def finish_without_done(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    await _send(writer, chunk("all "))
    await _send(writer, chunk("there", finish="stop"))
    await _end(writer)


async def unauthorized(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    body = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
    await _respond(writer, "401 Unauthorized", "application/json", json.dumps(body))


async def server_error(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    body = {"error": {"message": "the model crashed", "type": "server_error"}}
    await _respond(writer, "500 Internal Server Error", "application/json", json.dumps(body))


async def ollama_not_found(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    body = {"error": 'model "llama9" not found, try pulling it first'}
    await _respond(writer, "404 Not Found", "application/json", json.dumps(body))


async def html_gateway(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    body = "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>\n"
    await _respond(writer, "502 Bad Gateway", "text/html", body)


async def cut(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """The connection drops in the middle of the chunked body."""
    await _start_stream(writer)
    await _send(writer, chunk("Hel"))
    await _send(writer, chunk("lo"))
    writer.transport.abort()


async def early_eof(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """A close-delimited body that ends cleanly, but before the answer is complete."""
    await _start_stream(writer, chunked=False)
    await _send(writer, chunk("Hel"), chunked=False)
    await _send(writer, chunk("lo"), chunked=False)


async def garbage(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    await _send(writer, chunk("Hel"))
    await _send(writer, "<html>this is not an event stream</html>\n\n")
    await _send(writer, chunk("lo"))
    await _end(writer)


async def bad_json(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    await _send(writer, chunk("Hel"))
    await _send(writer, 'data: {"choices": [{"delta": \n\n')
    await _end(writer)


async def error_event(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    await _send(writer, chunk("Hel"))
    await _send(writer, 'data: {"error": {"message": "overloaded, try again"}}\n\n')
    await server.stall()


async def stall(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """Headers and one chunk, then silence with the connection open."""
    await _start_stream(writer)
    await _send(writer, chunk("Hel"))
    await server.stall()


async def no_answer(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """Accepts the request and never answers, not even headers."""
    await server.stall()


async def trickle(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """Keep-alive comments forever: never stalled, never finished."""
    await _start_stream(writer)
    await _send(writer, chunk("Hel"))
    while not server.release.is_set():
        await _send(writer, ": still thinking\n\n")
        await asyncio.sleep(0.05)


async def whole(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    """A server that ignores ``stream: true`` and answers with one JSON completion."""
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "all at once"}}]}
    await _respond(writer, "200 OK", "application/json", json.dumps(body))


def delta_event(delta: dict[str, Any], finish: str | None = None) -> str:
    """One streaming event with the given ``delta`` object."""
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


#: Reasoning as DeepSeek and vLLM stream it (``reasoning_content``, with ``content`` null), then
#: two parallel tool calls as OpenAI streams them: the first delta of each names it (index, id,
#: type, function.name, empty arguments), later ones carry only the index and argument pieces;
#: the choice ends with finish_reason "tool_calls".
REASONING_AND_TOOLS = [
    delta_event({"role": "assistant", "content": "", "reasoning_content": None}),
    delta_event({"content": None, "reasoning_content": "Need the"}),
    delta_event({"content": None, "reasoning_content": " weather."}),
    delta_event({"content": "Checking."}),
    delta_event({"tool_calls": [{"index": 0, "id": "call_w", "type": "function",
                                 "function": {"name": "get_weather", "arguments": ""}}]}),
    delta_event({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    delta_event({"tool_calls": [{"index": 1, "id": "call_t", "type": "function",
                                 "function": {"name": "get_time", "arguments": '{"tz":"CET"}'}}]}),
    delta_event({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
    delta_event({}, finish="tool_calls"),
    "data: [DONE]\n\n",
]

#: Reasoning as OpenRouter and Ollama stream it (``reasoning``), then text.
REASONING_FIELD = [
    delta_event({"role": "assistant", "reasoning": "Short"}),
    delta_event({"reasoning": " think."}),
    delta_event({"content": "Answer."}),
    delta_event({}, finish="stop"),
    "data: [DONE]\n\n",
]


async def reasoning_tools(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    for event in REASONING_AND_TOOLS:
        await _send(writer, event)
    await _end(writer)


async def reasoning_field(server: ChatServer, writer: asyncio.StreamWriter) -> None:
    await _start_stream(writer)
    for event in REASONING_FIELD:
        await _send(writer, event)
    await _end(writer)


SCENARIOS: dict[str, Callable[[ChatServer, asyncio.StreamWriter], Awaitable[None]]] = {
    f.__name__: f
    for f in (
        ok,
        split,
        finish_without_done,
        unauthorized,
        server_error,
        ollama_not_found,
        html_gateway,
        cut,
        early_eof,
        garbage,
        bad_json,
        error_event,
        stall,
        no_answer,
        trickle,
        whole,
        reasoning_tools,
        reasoning_field,
    )
}
