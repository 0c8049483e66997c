"""A run's state machine (tether.runs.state) and the repair of agents' text at the boundary."""

from __future__ import annotations

import asyncio

import pytest

from tether.agents.base import Repair, repair_text
from tether.runs import IllegalTransition, Run, RunState
from tether.streams import LiveStream


def new_run() -> Run:
    return Run(LiveStream("s", "m"))


async def idle() -> None:
    await asyncio.Event().wait()


async def test_a_run_streams_then_finishes_then_ends() -> None:
    run = new_run()
    producer = asyncio.create_task(idle())
    run.streaming(producer)
    assert run.state is RunState.STREAMING
    run.finishing()
    run.end()
    assert run.state is RunState.ENDED and run.ended.is_set()
    producer.cancel()


async def test_cancel_stops_the_agent_and_the_answer_still_ends() -> None:
    run = new_run()
    producer = asyncio.create_task(idle())
    run.streaming(producer)
    assert run.cancel() is True
    assert run.cancel() is True  # a second cancel of the same run waits for the same end
    await asyncio.wait({producer}, timeout=5)
    assert producer.cancelled()
    run.finishing()
    assert run.cancel() is False  # nothing left to cancel
    run.end()
    assert run.cancel() is False


async def test_a_fenced_run_cannot_finish() -> None:
    run = new_run()
    run.fence()
    assert run.state is RunState.FENCED
    assert run.cancel() is False
    with pytest.raises(IllegalTransition):
        run.finishing()
    run.fence()  # fencing twice is harmless
    run.end()
    with pytest.raises(IllegalTransition):
        run.end()


async def test_illegal_transitions_raise() -> None:
    run = new_run()
    with pytest.raises(IllegalTransition):
        run.end()  # an answer must finish (or be fenced) before it ends
    run.cancel()
    producer = asyncio.create_task(idle())
    with pytest.raises(IllegalTransition):
        run.streaming(producer)  # a cancelled run never starts its agent
    producer.cancel()
    run.finishing()
    run.fence()  # a finishing run is fenced by its final write, not by this
    assert run.state is RunState.FINISHING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("é and 😀", "é and 😀"),
        ("half \ud83d", "half \ufffd"),
        ("\ude00 tail", "\ufffd tail"),
        ("pair \ud83d\ude00 as two code points", "pair 😀 as two code points"),
        ("nul\x00 inside", "nul\ufffd inside"),
    ],
)
def test_lone_surrogates_become_replacement_characters(text: str, expected: str) -> None:
    assert repair_text(text) == expected
    repair_text(expected).encode("utf-8")  # always encodable


def repaired(*pieces: str) -> list[str]:
    """What the run's producer passes on for an agent's ``pieces``, in order."""
    repair = Repair()
    out = [text for piece in pieces if (text := repair.text(piece))]
    if lone := repair.lone():
        out.append(lone)
    return out


def test_an_emoji_split_across_two_chunks_comes_out_whole() -> None:
    out = repaired("smile \ud83d", "\ude00 done")
    assert "".join(out) == "smile 😀 done"
    assert out[0] == "smile "  # the high surrogate waited for its partner


def test_a_high_surrogate_with_no_partner_is_replaced() -> None:
    assert repaired("a\ud83d", "b", "\ud83d") == ["a", "\ufffdb", "\ufffd"]
