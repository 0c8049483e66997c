"""The openai agent against a fake Chat Completions server that misbehaves on demand."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from tests.agents.chat_server import ChatServer
from tether.agents import AgentError, ChatMessage, Turn
from tether.agents import events as ev
from tether.agents.openai_compat import OpenAIAgent, OpenAISpec
from tether.streams import LiveStream

FAST = {"connect_timeout": 1.0, "read_timeout": 0.3, "timeout": 5.0}


def agent(base_url: str, **spec: object) -> OpenAIAgent:
    options = {**FAST, **spec}
    return OpenAIAgent("llama", OpenAISpec(base_url=base_url, model="test-model", **options))  # type: ignore[arg-type]


def turn(*texts: str) -> Turn:
    roles = ["user", "assistant"]
    return Turn("s-1", [ChatMessage(roles[i % 2], t) for i, t in enumerate(texts)])  # type: ignore[arg-type]


async def answer(chunks: AsyncIterator[str]) -> list[str]:
    async def run() -> list[str]:
        return [chunk async for chunk in chunks]

    return await asyncio.wait_for(run(), 5)


async def failure(chunks: AsyncIterator[str]) -> tuple[str, str]:
    """The text yielded before the AgentError, and the error's message (never a hang)."""
    got: list[str] = []

    async def run() -> None:
        async for chunk in chunks:
            got.append(chunk)

    with pytest.raises(AgentError) as caught:
        await asyncio.wait_for(run(), 5)
    return "".join(got), str(caught.value)


# -- answers ----------------------------------------------------------------------------------


async def test_a_streamed_answer_and_the_request_that_asked_for_it(chat_server: ChatServer) -> None:
    llama = agent(
        chat_server.url("ok"),
        api_key="sk-test",
        system_prompt="Be brief.",
        window=3,
        params={"temperature": 0.2},
        headers={"X-Title": "Tether"},
    )
    chunks = await answer(llama.stream(turn("one", "uno", "two", "", "three")))
    assert chunks == ["Hel", "lo", " wörld"]

    [request] = chat_server.requests
    assert (request.method, request.path) == ("POST", "/ok/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["x-title"] == "Tether"
    assert request.body == {
        "model": "test-model",
        "stream": True,
        "temperature": 0.2,
        "messages": [  # the system prompt, then the last 3 messages that say something
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "uno"},
            {"role": "user", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    }


async def test_no_api_key_sends_no_authorization(chat_server: ChatServer) -> None:
    await answer(agent(chat_server.url("ok") + "/").stream(turn("hi")))
    assert "authorization" not in chat_server.requests[0].headers
    assert chat_server.requests[0].path == "/ok/v1/chat/completions"


async def test_events_split_across_reads_and_crlf_lines(chat_server: ChatServer) -> None:
    assert await answer(agent(chat_server.url("split")).stream(turn("hi"))) == ["split ünïcode"]


async def test_a_finish_reason_without_done_is_a_complete_answer(chat_server: ChatServer) -> None:
    chunks = await answer(agent(chat_server.url("finish_without_done")).stream(turn("hi")))
    assert "".join(chunks) == "all there"


async def test_a_server_that_ignores_stream_true(chat_server: ChatServer) -> None:
    assert await answer(agent(chat_server.url("whole")).stream(turn("hi"))) == ["all at once"]


# -- failures: each ends with a clear message, never a hang ----------------------------------


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("unauthorized", "answered 401 Unauthorized: Incorrect API key provided"),
        ("server_error", "answered 500 Internal Server Error: the model crashed"),
        (
            "ollama_not_found",
            'answered 404 Not Found: model "llama9" not found, try pulling it first',
        ),
        ("html_gateway", "answered 502 Bad Gateway: <html> <body> <h1>502 Bad Gateway</h1>"),
    ],
)
async def test_error_statuses_carry_the_servers_message(
    chat_server: ChatServer, scenario: str, expected: str
) -> None:
    url = chat_server.url(scenario)
    text, error = await failure(agent(url).stream(turn("hi")))
    assert text == ""
    assert error.startswith(f"{url} {expected}")


@pytest.mark.parametrize(
    ("scenario", "partial", "expected"),
    [
        ("cut", "Hello", "the connection to {url} was dropped mid-stream ("),
        ("early_eof", "Hello", "the stream from {url} ended before the answer was complete"),
        (
            "garbage",
            "Hel",
            "malformed line in the event stream: '<html>this is not an event stream</html>'",
        ),
        ("bad_json", "Hel", "malformed event from {url}: not JSON: "),
        ("error_event", "Hel", "{url} reported an error: overloaded, try again"),
        ("stall", "Hel", "{url} stalled: nothing received for 0.3 s"),
        ("no_answer", "", "{url} stalled: nothing received for 0.3 s"),
    ],
)
async def test_broken_streams_fail_with_what_went_wrong(
    chat_server: ChatServer, scenario: str, partial: str, expected: str
) -> None:
    url = chat_server.url(scenario)
    text, error = await failure(agent(url).stream(turn("hi")))
    assert text == partial
    assert error.startswith(expected.format(url=url)), error


async def test_a_stream_that_never_finishes_hits_the_turn_timeout(chat_server: ChatServer) -> None:
    url = chat_server.url("trickle")
    text, error = await failure(agent(url, timeout=0.5).stream(turn("hi")))
    assert text == "Hel"
    assert error == f"{url} did not finish the answer within 0.5 s"


async def test_nothing_listening() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    _, error = await failure(agent(url).stream(turn("hi")))
    assert error.startswith(f"cannot connect to {url}: ")


async def test_cancel_closes_the_stream(chat_server: ChatServer) -> None:
    chunks = agent(chat_server.url("trickle"), read_timeout=5.0).stream(turn("hi"))
    got = asyncio.Event()

    async def consume() -> None:
        async for _ in chunks:
            got.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    # The server sees the connection go: its trickle stops writing.
    await asyncio.wait_for(_until(lambda: not chat_server.writers), 5)


async def _until(predicate: object) -> None:
    while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 - polling a plain set
        await asyncio.sleep(0.02)


# -- structured: reasoning and tool calls ------------------------------------------------------


async def test_streamed_reasoning_content_and_tool_calls_become_events(
    chat_server: ChatServer,
) -> None:
    events = await answer(agent(chat_server.url("reasoning_tools")).stream(turn("weather?")))
    assert events == [
        ev.Reasoning("Need the"),
        ev.Reasoning(" weather."),
        "Checking.",
        ev.ToolCall("call_w", "get_weather"),
        ev.ToolInput("call_w", '{"city":'),
        ev.ToolCall("call_t", "get_time"),
        ev.ToolInput("call_t", '{"tz":"CET"}'),
        ev.ToolInput("call_w", ' "Paris"}'),
        ev.ToolInputDone("call_w"),
        ev.ToolInputDone("call_t"),
    ]
    # As parts: reasoning, text, two tools shown with their parsed input, never executed.
    stream = LiveStream("s", "m")
    for event in events:
        stream.add_event(event)  # type: ignore[arg-type]
    stream.finish(None)
    stream.take_chunk()
    assert [(p["type"], p.get("state")) for p in stream.parts] == [
        ("reasoning", "done"), ("text", None),
        ("tool", "input-available"), ("tool", "input-available"),
    ]
    assert [p["input"] for p in stream.parts[2:]] == [{"city": "Paris"}, {"tz": "CET"}]
    assert stream.text == "Checking."


async def test_the_reasoning_field_is_reasoning_too(chat_server: ChatServer) -> None:
    events = await answer(agent(chat_server.url("reasoning_field")).stream(turn("hi")))
    assert events == [ev.Reasoning("Short"), ev.Reasoning(" think."), "Answer."]
