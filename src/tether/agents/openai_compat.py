"""The ``openai`` agent: any OpenAI-compatible Chat Completions endpoint, streamed.

OpenAI, Ollama, vLLM, LM Studio and the llama.cpp server all speak the same protocol:
``POST {base_url}/chat/completions`` with ``"stream": true`` answers with server-sent events,
each ``data:`` line a JSON chunk whose ``choices[0].delta.content`` is the next piece of text,
and a last ``data: [DONE]``.

Every way this can go wrong ends the turn with an :class:`AgentError` whose message says what
happened, never with a hang: an error status (with the server's own error message), a refused
or slow connection, a stall (no bytes for ``read_timeout`` seconds), a stream that ends before
the answer is complete, and lines that are not the protocol.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tether.agents.base import AgentError, Turn
from tether.agents.events import Event, Reasoning, ToolCall, ToolInput, ToolInputDone

#: How much of an error response's body is read to find its message.
ERROR_BODY_LIMIT = 64 * 1024
#: How much of a bad line or body an error message quotes.
QUOTE_CHARS = 120


@dataclass(frozen=True, slots=True)
class OpenAISpec:
    """Where and how an ``openai`` agent asks for answers (validated by tether.agents.config)."""

    base_url: str
    model: str
    api_key: str | None = None
    system_prompt: str | None = None
    #: How many of the conversation's last messages are sent; None sends them all.
    window: int | None = 20
    #: Seconds to establish the connection.
    connect_timeout: float = 10.0
    #: Seconds without a single byte from the server before the turn fails as stalled.
    read_timeout: float = 60.0
    #: Seconds the whole answer may take; None for no limit beyond ``read_timeout``.
    timeout: float | None = 600.0
    #: Extra fields of the request body, such as ``temperature`` or ``max_tokens``.
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Extra request headers.
    headers: Mapping[str, str] = field(default_factory=dict)


class OpenAIAgent:
    """Streams answers from an OpenAI-compatible ``/chat/completions`` endpoint."""

    kind = "openai"
    history = True

    def __init__(
        self, name: str, spec: OpenAISpec, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.name = name
        self.spec = spec
        self.base_url = spec.base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self._transport = transport

    def request_body(self, turn: Turn) -> dict[str, Any]:
        """The JSON body asking for the answer to ``turn``."""
        history = [
            {"role": m.role, "content": m.content}
            for m in turn.messages
            if m.content or m.role == "user"  # an empty failed answer says nothing
        ]
        if self.spec.window is not None:
            history = history[-self.spec.window :]
        if self.spec.system_prompt:
            history.insert(0, {"role": "system", "content": self.spec.system_prompt})
        return {**self.spec.params, "model": self.spec.model, "messages": history, "stream": True}

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", **self.spec.headers}
        if self.spec.api_key:
            headers["Authorization"] = f"Bearer {self.spec.api_key}"
        return headers

    async def stream(self, turn: Turn) -> AsyncIterator[str | Event]:
        spec = self.spec
        timeout = httpx.Timeout(
            connect=spec.connect_timeout,
            read=spec.read_timeout,
            write=spec.read_timeout,
            pool=spec.connect_timeout,
        )
        answering = False
        async with httpx.AsyncClient(timeout=timeout, transport=self._transport) as client:
            try:
                async with client.stream(
                    "POST", self.url, json=self.request_body(turn), headers=self.request_headers()
                ) as response:
                    answering = True
                    if not response.is_success:
                        raise AgentError(await self._status_message(response))
                    ctype = response.headers.get("content-type", "")
                    if ctype.startswith("application/json"):
                        yield await self._whole_answer(response)
                        return
                    async for text in self._events(response):
                        yield text
            except httpx.ConnectTimeout:
                raise AgentError(
                    f"timed out connecting to {self.base_url} after {spec.connect_timeout:g} s"
                ) from None
            except httpx.ConnectError as exc:
                raise AgentError(f"cannot connect to {self.base_url}: {exc}") from None
            except httpx.ReadTimeout:
                raise AgentError(
                    f"{self.base_url} stalled: nothing received for {spec.read_timeout:g} s"
                ) from None
            except httpx.TimeoutException:
                raise AgentError(f"timed out talking to {self.base_url}") from None
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if answering:
                    raise AgentError(
                        f"the connection to {self.base_url} was dropped mid-stream ({exc})"
                    ) from None
                raise AgentError(f"{self.base_url} closed the connection: {exc}") from None
            except httpx.HTTPError as exc:
                raise AgentError(f"request to {self.base_url} failed: {exc}") from None

    async def _events(self, response: httpx.Response) -> AsyncIterator[str | Event]:
        """The answer's text and events from an event stream, until ``[DONE]``."""
        finished = False  # a choice reported its finish_reason
        for_events = _EventParser()
        calls = _ToolCalls()
        async for line in self._lines(response):
            for data in for_events.feed(line):
                if data == "[DONE]":
                    return
                chunk = self._decode(data)
                events, done = self._read_chunk(chunk, calls)
                finished = finished or done
                for event in events:
                    yield event
        for data in for_events.end():
            if data == "[DONE]":
                return
            events, done = self._read_chunk(self._decode(data), calls)
            finished = finished or done
            for event in events:
                yield event
        if not finished:
            raise AgentError(
                f"the stream from {self.base_url} ended before the answer was complete"
            )

    async def _lines(self, response: httpx.Response) -> AsyncIterator[str]:
        """The response's lines, failing the turn when its whole ``timeout`` is spent."""
        lines = response.aiter_lines()
        if self.spec.timeout is None:
            async for line in lines:
                yield line
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.timeout
        while True:
            try:
                line = await asyncio.wait_for(anext(lines), max(deadline - loop.time(), 0.0))
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise AgentError(
                    f"{self.base_url} did not finish the answer within {self.spec.timeout:g} s"
                ) from None
            yield line

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise AgentError(
                f"malformed event from {self.base_url}: not JSON: {_quote(data)}"
            ) from None
        if not isinstance(chunk, dict):
            raise AgentError(f"malformed event from {self.base_url}: {_quote(data)}")
        return chunk

    def _read_chunk(
        self, chunk: dict[str, Any], calls: _ToolCalls
    ) -> tuple[list[str | Event], bool]:
        """A chunk's text and events, and whether it finishes the answer. Streamed reasoning
        (``reasoning_content`` as DeepSeek and vLLM send it, ``reasoning`` as OpenRouter and
        Ollama do) becomes reasoning; streamed ``tool_calls`` become tool parts, shown and never
        executed (their input is complete when the choice finishes)."""
        if "error" in chunk:
            raise AgentError(f"{self.base_url} reported an error: {_error_text(chunk)}")
        choices = chunk.get("choices", [])
        if not isinstance(choices, list):
            raise AgentError(f"malformed event from {self.base_url}: 'choices' is not a list")
        out: list[str | Event] = []
        finished = False
        for choice in choices:
            if not isinstance(choice, dict):
                raise AgentError(f"malformed event from {self.base_url}: a choice is not an object")
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                for key in ("reasoning_content", "reasoning"):
                    reasoning = delta.get(key)
                    if isinstance(reasoning, str) and reasoning:
                        out.append(Reasoning(reasoning))
                        break
                tool_calls = delta.get("tool_calls")
                if isinstance(tool_calls, list):
                    out.extend(calls.read(tool_calls))
                content = delta.get("content")
                if isinstance(content, str) and content:
                    out.append(content)
            if choice.get("finish_reason"):
                finished = True
                out.extend(calls.done())
        return out, finished

    async def _whole_answer(self, response: httpx.Response) -> str:
        """A server that ignored ``stream: true`` sent the whole completion as one JSON body."""
        body = await _read_limited(response, limit=None)
        chunk = self._decode(body)
        if "error" in chunk:
            raise AgentError(f"{self.base_url} reported an error: {_error_text(chunk)}")
        try:
            content = chunk["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise AgentError(
                f"malformed answer from {self.base_url}: no choices[0].message.content"
            ) from None
        return content if isinstance(content, str) else ""

    async def _status_message(self, response: httpx.Response) -> str:
        status = f"{self.base_url} answered {response.status_code} {response.reason_phrase}"
        try:
            body = await _read_limited(response, ERROR_BODY_LIMIT)
        except httpx.HTTPError:
            return status
        detail = _error_text_of_body(body)
        return f"{status}: {detail}" if detail else status


class _ToolCalls:
    """Streamed ``tool_calls`` of one answer: the first delta of a call names it (``index``,
    ``id``, ``function.name``), the next ones carry only ``index`` and pieces of
    ``function.arguments``."""

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}
        self._open: list[str] = []

    def read(self, tool_calls: list[Any]) -> list[Event]:
        out: list[Event] = []
        for call in tool_calls:
            if not isinstance(call, dict):
                continue
            index = call.get("index", 0)
            index = index if isinstance(index, int) else 0
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            if index not in self._ids:
                call_id = call.get("id")
                call_id = call_id if isinstance(call_id, str) else f"call_{index}"
                name = function.get("name")
                name = name if isinstance(name, str) else ""
                self._ids[index] = call_id
                self._open.append(call_id)
                out.append(ToolCall(call_id, name))
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                out.append(ToolInput(self._ids[index], arguments))
        return out

    def done(self) -> list[Event]:
        """The inputs are complete (the choice finished)."""
        out: list[Event] = [ToolInputDone(call_id) for call_id in self._open]
        self._open.clear()
        return out


class _EventParser:
    """Server-sent events, line by line: yields each event's ``data`` when the event ends."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> Iterator[str]:
        if not line:
            yield from self.end()
            return
        if line.startswith(":"):  # a comment, such as a keep-alive
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        elif name not in ("event", "id", "retry"):
            raise AgentError(f"malformed line in the event stream: {_quote(line)}")

    def end(self) -> Iterator[str]:
        if self._data:
            data, self._data = "\n".join(self._data), []
            yield data


async def _read_limited(response: httpx.Response, limit: int | None) -> str:
    body = bytearray()
    async for data in response.aiter_bytes():
        body += data
        if limit is not None and len(body) >= limit:
            break
    return body.decode(errors="replace")


def _error_text(payload: Mapping[str, Any]) -> str:
    """The message of an OpenAI-style ``{"error": {"message": ...}}`` (or looser) payload."""
    error = payload.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    for key in ("message", "detail"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    return _quote(json.dumps(payload))


def _error_text_of_body(body: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return " ".join(body.split())[:300]
    if isinstance(payload, dict):
        return _error_text(payload)
    return _quote(body)


def _quote(text: str) -> str:
    return repr(text[:QUOTE_CHARS] + ("…" if len(text) > QUOTE_CHARS else ""))
