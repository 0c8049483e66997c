"""``tether logs tail``: follow the server log, or the browsers' logs, like ``tail -f``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

POLL = 0.5


def split_lines(text: str) -> list[str]:
    """Lines split at ``\n`` only: ``str.splitlines`` also splits at U+2028, U+2029, U+0085
    and more, which would let a logged message show as several lines."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def last_lines(path: Path, count: int) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read()
    except OSError:
        return []
    return split_lines(data.decode("utf-8", "replace"))[-count:] if count else []


def frontend_files(directory: Path) -> list[Path]:
    """Current (not rotated) client log files of the newest day."""
    days = sorted(d for d in directory.glob("????-??-??") if d.is_dir())
    if not days:
        return []
    return sorted(p for p in days[-1].glob("*.log") if "." not in p.stem)


class Follower:
    """Follows one file across rotation (a new inode, or a file that shrank)."""

    def __init__(self, path: Path, label: str = "") -> None:
        self.path = path
        self.label = label
        self.inode: int | None = None
        self.offset = 0

    def start_at_end(self) -> None:
        try:
            stat = self.path.stat()
        except OSError:
            return
        self.inode, self.offset = stat.st_ino, stat.st_size

    def read_new(self) -> list[str]:
        try:
            stat = self.path.stat()
        except OSError:
            return []
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.inode, self.offset = stat.st_ino, 0
        if stat.st_size == self.offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        lines = split_lines(data[:complete].decode("utf-8", "replace"))
        return [f"{self.label}{line}" for line in lines]


def tail(logs_dir: Path, *, frontend: bool, lines: int, follow: bool) -> Iterator[str]:
    """Yield the last ``lines`` lines, then (with ``follow``) new ones as they arrive."""
    followers: dict[Path, Follower] = {}

    def discover() -> list[Follower]:
        paths = frontend_files(logs_dir / "frontend") if frontend else [logs_dir / "app.log"]
        fresh = []
        for path in paths:
            if path not in followers:
                label = f"[{path.stem}] " if frontend else ""
                followers[path] = Follower(path, label)
                fresh.append(followers[path])
        return fresh

    for follower in discover():
        yield from (follower.label + line for line in last_lines(follower.path, lines))
        follower.start_at_end()
    while follow:
        time.sleep(POLL)
        for follower in discover():
            follower.inode = None  # a new file: read it from the start
        for follower in followers.values():
            yield from follower.read_new()
