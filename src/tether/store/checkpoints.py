"""When the WAL of an SQLite file is checkpointed, and where: in a thread, never on the loop.

A checkpoint copies the WAL's pages into the database file and fsyncs both; SQLite runs one
by itself in the COMMIT that takes the WAL past 1,000 pages (``wal_autocheckpoint``). The
store's inline writer (tether.store.sqlite_inline) commits on the event loop, so its automatic
checkpoints are off and these run instead, in the writer's thread: ``PASSIVE`` (it waits for
no reader and no writer, so the loop's transactions go on meanwhile) after every
``commits`` commits, or ``seconds`` after a commit that no checkpoint has covered yet.

Only a checkpoint that has copied the whole WAL lets the next writer start it over from its
first page, and a passive checkpoint that writes go on beside never catches up with the last
commit: under steady writes the WAL would grow without bound (measured: 34,000 pages after
5,000 commits). So when commits went on during a checkpoint and the WAL has ``limit_pages``
or more, a second one runs at once with the writer paused (its lock held: writes queue and
commit together after it; reads go on). The first copied nearly everything, so the pause is
short: the pages added meanwhile and two fsyncs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Commits between two checkpoints (each commit of the writer is a group of writes).
CHECKPOINT_COMMITS = 200
#: Seconds after a commit by which a checkpoint has run.
CHECKPOINT_SECONDS = 2.0
#: WAL pages (4 KiB each by default) from which a checkpoint pauses the writer to finish
#: (SQLite's own automatic checkpoint starts at 1,000).
LIMIT_PAGES = 1_000


@dataclass(frozen=True, slots=True)
class Checkpointed:
    """``PRAGMA wal_checkpoint``'s answer: whether it was blocked (another checkpoint ran),
    the WAL's pages, and how many of them are in the database file now."""

    busy: bool
    wal_pages: int
    copied_pages: int


def passive_checkpoint(dbapi_connection: Any) -> Checkpointed:
    """Run a PASSIVE checkpoint on a pysqlite connection with no transaction open."""
    busy, wal_pages, copied = dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return Checkpointed(bool(busy), int(wal_pages), int(copied))


class WalCheckpoints:
    """Decides when to checkpoint and runs one at a time, off the loop.

    :param run: runs a checkpoint in a thread (paused or not) and returns its answer;
        ``paused`` asks it to hold the writer's lock meanwhile.
    """

    def __init__(
        self, run: Callable[[bool], Coroutine[Any, Any, Checkpointed]], *,
        commits: int = CHECKPOINT_COMMITS, seconds: float = CHECKPOINT_SECONDS,
        limit_pages: int = LIMIT_PAGES,
    ) -> None:
        self._run = run
        self.commits = commits
        self.seconds = seconds
        self.limit_pages = limit_pages
        self._since = 0
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Checkpoints run, paused ones among them, and the last answer (tests, diagnostics).
        self.runs = 0
        self.paused_runs = 0
        self.last: Checkpointed | None = None

    def committed(self) -> None:
        """Called on the loop after each commit of the inline writer."""
        self._since += 1
        if self._since >= self.commits:
            self.start()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.seconds, self.start)

    def start(self) -> None:
        """Start a checkpoint now, unless one is running (it covers what this one would)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is None and not self._closed:
            self._since = 0
            self._task = asyncio.create_task(self._checkpoint(), name="sqlite-checkpoint")

    async def wait(self) -> None:
        """Until the running checkpoint (if any) has ended."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """No more checkpoints: the running one ends first (the connection that closes last
        checkpoints what is left)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.wait()

    async def _checkpoint(self) -> None:
        try:
            await self._checkpoints()
        except Exception as exc:  # the next commits try again; the WAL only grows meanwhile
            log.warning("WAL checkpoint failed: %r", exc)
        finally:
            self._task = None

    async def _checkpoints(self) -> None:
        answer = await self._checkpoint_once(paused=False)
        if self._since and answer.wal_pages >= self.limit_pages:
            # Writes committed meanwhile, so the WAL will not start over: copy what they
            # added with the writer paused (the pages before are copied already: it is short).
            await self._checkpoint_once(paused=True)

    async def _checkpoint_once(self, paused: bool) -> Checkpointed:
        answer = await self._run(paused)
        self.runs += 1
        self.paused_runs += paused
        self.last = answer
        return answer
