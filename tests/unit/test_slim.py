"""tether.edge.slim's queue and event behave as asyncio's do for what their users call: each
case runs on asyncio's class and on the slim one."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tether.edge.slim import SlimEvent, SlimQueue

QUEUES: list[Callable[[], Any]] = [asyncio.Queue, SlimQueue]
EVENTS: list[Callable[[], Any]] = [asyncio.Event, SlimEvent]


@pytest.mark.parametrize("make", QUEUES, ids=["asyncio", "slim"])
async def test_queue_fifo_and_sizes(make: Callable[[], Any]) -> None:
    queue = make()
    assert queue.empty() and queue.qsize() == 0 and not queue.full()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(1)
    await queue.put(2)
    queue.put_nowait(None)
    assert queue.qsize() == 3 and not queue.empty()
    assert [queue.get_nowait(), await queue.get(), queue.get_nowait()] == [1, 2, None]
    assert queue.empty()


@pytest.mark.parametrize("make", QUEUES, ids=["asyncio", "slim"])
async def test_queue_get_waits_for_a_put(make: Callable[[], Any]) -> None:
    queue = make()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait("a")
    assert await asyncio.wait_for(getter, 1) == "a"
    assert queue.empty()


@pytest.mark.parametrize("make", QUEUES, ids=["asyncio", "slim"])
async def test_queue_two_getters_each_get_one(make: Callable[[], Any]) -> None:
    queue = make()
    first, second = asyncio.ensure_future(queue.get()), asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert sorted(await asyncio.wait_for(asyncio.gather(first, second), 1)) == [1, 2]


@pytest.mark.parametrize("make", QUEUES, ids=["asyncio", "slim"])
async def test_queue_cancelled_getter_leaves_the_item(make: Callable[[], Any]) -> None:
    queue = make()
    cancelled, other = asyncio.ensure_future(queue.get()), asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("x")  # wakes the first getter...
    cancelled.cancel()  # ...which is cancelled before it runs: the item goes to the other
    assert await asyncio.wait_for(other, 1) == "x"
    assert cancelled.cancelled()
    assert queue.empty()


@pytest.mark.parametrize("make", QUEUES, ids=["asyncio", "slim"])
async def test_queue_timeout_on_get(make: Callable[[], Any]) -> None:
    queue = make()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await queue.get()
    queue.put_nowait(5)  # nobody waits any more: it stays for the next get
    assert queue.get_nowait() == 5


@pytest.mark.parametrize("make", QUEUES, ids=["asyncio", "slim"])
async def test_queue_join_waits_for_task_done(make: Callable[[], Any]) -> None:
    queue = make()
    await asyncio.wait_for(queue.join(), 1)  # nothing unfinished: at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joiners = [asyncio.ensure_future(queue.join()) for _ in range(2)]
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not any(j.done() for j in joiners)
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(asyncio.gather(*joiners), 1)
    with pytest.raises(ValueError):
        queue.task_done()


@pytest.mark.parametrize("make", EVENTS, ids=["asyncio", "slim"])
async def test_event(make: Callable[[], Any]) -> None:
    event = make()
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    waiters[0].cancel()
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters[1:]), 1) == [True, True]
    assert event.is_set() and await event.wait() is True
    event.clear()
    assert not event.is_set()
    late = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    assert not late.done()
    event.set()
    assert await asyncio.wait_for(late, 1) is True


def test_slim_ones_hold_no_container_while_idle() -> None:
    """The point of them: an idle queue or event is a small object, asyncio's are not."""
    queue, event = SlimQueue(), SlimEvent()
    queue.put_nowait(1)
    queue.get_nowait()
    queue.task_done()
    event.set()
    event.clear()
    slim = sys.getsizeof(queue) + sys.getsizeof(event)
    stock = asyncio.Queue()  # type: ignore[var-annotated]
    stock_size = sys.getsizeof(stock._queue) + sys.getsizeof(stock._getters)  # type: ignore[attr-defined]
    assert slim < stock_size
    assert queue._items is None and queue._getters is None and event._waiters is None
