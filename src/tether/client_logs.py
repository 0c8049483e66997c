"""Browser log lines shipped by the debug panel's Remote switch (``POST /api/client-logs``).

Files live under ``<directory>/<YYYY-MM-DD>/<client_id>.log`` (UTC day of arrival), one line per
log line: ``<client ts> <LEVEL> <message>``. Each client's file is rotated at ``max_file_bytes``
into ``<client_id>.1.log`` ... ``<client_id>.<max_files_per_day - 1>.log``; the oldest is
deleted, so one client can never use more than ``max_file_bytes * max_files_per_day`` a day;
all clients together write at most ``max_day_bytes`` a day (client ids are free to make up).

``logging.handlers.RotatingFileHandler`` is not used for the rotation: its I/O errors (a full
disk) go to ``handleError``, which prints them and carries on, where the route must answer 500;
and it would hold a file open per client id, or be rebuilt per batch.

The writer does blocking file I/O: call it from a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR"}
MAX_MESSAGE_CHARS = 4000
MAX_TS_CHARS = 64
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Line breaks to Python's ``str.splitlines`` (and so to ``tether logs tail``) beyond \n and the
#: control characters: written as escapes, so a message cannot forge a line.
_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class LogQuotaExceeded(Exception):
    """Today's bytes for all clients together are used up."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FrontendLogWriter:
    """Writes validated batches of browser log lines to per-day, per-client files."""

    def __init__(
        self,
        directory: Path,
        max_file_bytes: int = 1_000_000,
        max_files_per_day: int = 5,
        max_batch_lines: int = 1000,
        max_day_bytes: int = 200_000_000,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        if max_file_bytes < 1 or max_files_per_day < 1 or max_batch_lines < 1:
            raise ValueError("limits must be positive")
        self.directory = Path(directory)
        self.max_file_bytes = max_file_bytes
        self.max_files_per_day = max_files_per_day
        self.max_batch_lines = max_batch_lines
        self.max_day_bytes = max_day_bytes
        self.now = now
        self._lock = threading.Lock()
        self._day = ""
        self._day_bytes = 0

    def path_for(self, client_id: str, day: str | None = None) -> Path:
        """The current file of ``client_id`` for ``day`` (today, UTC, by default)."""
        return self.directory / (day or self.now().strftime("%Y-%m-%d")) / f"{client_id}.log"

    def write(self, client_id: str, lines: list[Any]) -> int:
        """Validate a batch and append it; returns the number of lines written.

        Raises ValueError, with a message fit for an HTTP 400, when the client_id is not 1-64
        characters of ``[A-Za-z0-9_-]``, ``lines`` is not a list of ``{"ts", "level", "msg"}``
        objects, or the batch has more than ``max_batch_lines`` lines; LogQuotaExceeded when
        it would take today's total past ``max_day_bytes``. Nothing is written then.
        """
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise ValueError("client_id must be 1-64 characters of [A-Za-z0-9_-]")
        if not isinstance(lines, list):
            raise ValueError("lines must be a list")
        if len(lines) > self.max_batch_lines:
            raise ValueError(f"at most {self.max_batch_lines} lines per batch")
        rendered = [self._render(index, line) for index, line in enumerate(lines)]
        if not rendered:
            return 0
        size = sum(len(text.encode("utf-8")) for text in rendered)
        with self._lock:
            path = self.path_for(client_id)
            self._spend(path.parent, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            for text in rendered:
                self._append(path, text)
        return len(rendered)

    # -- internals --------------------------------------------------------------------------

    def _spend(self, day_dir: Path, size: int) -> None:
        """Count ``size`` bytes against today's cap, or raise LogQuotaExceeded."""
        if day_dir.name != self._day:
            # A new day, or a restart: what is already on disk for that day counts.
            self._day = day_dir.name
            files = day_dir.glob("*.log") if day_dir.is_dir() else ()
            self._day_bytes = sum(f.stat().st_size for f in files)
        if self._day_bytes + size > self.max_day_bytes:
            raise LogQuotaExceeded(
                f"today's client log quota ({self.max_day_bytes} bytes, all clients) is used up"
            )
        self._day_bytes += size

    def _render(self, index: int, line: Any) -> str:
        if not isinstance(line, dict):
            raise ValueError(f"lines[{index}] must be an object")
        msg = line.get("msg")
        if not isinstance(msg, str):
            raise ValueError(f"lines[{index}].msg must be a string")
        level = line.get("level", "info")
        if not isinstance(level, str) or level.lower() not in LEVELS:
            raise ValueError(f"lines[{index}].level must be one of debug, info, warn, error")
        ts = _timestamp(line.get("ts"), index)
        if len(msg) > MAX_MESSAGE_CHARS:
            msg = msg[:MAX_MESSAGE_CHARS] + "…"
        # One log line per line: a message cannot forge further lines.
        msg = _CONTROL.sub("?", msg.replace("\r\n", "\n").replace("\n", "\\n"))
        msg = msg.translate(_BREAKS)
        return f"{ts} {LEVELS[level.lower()]:<5} {msg}\n"

    def _append(self, path: Path, text: str) -> None:
        data = text.encode("utf-8")[: self.max_file_bytes]
        size = path.stat().st_size if path.exists() else 0
        if size and size + len(data) > self.max_file_bytes:
            self._rotate(path)
        with path.open("ab") as file:
            file.write(data)

    def _rotate(self, path: Path) -> None:
        """``x.log`` -> ``x.1.log`` -> ... ; the oldest beyond max_files_per_day is deleted."""
        stem = path.name.removesuffix(".log")

        def numbered(n: int) -> Path:
            return path if n == 0 else path.with_name(f"{stem}.{n}.log")

        keep = self.max_files_per_day
        numbered(keep - 1).unlink(missing_ok=True)
        for n in range(keep - 2, -1, -1):
            if numbered(n).exists():
                numbered(n).replace(numbered(n + 1))


def _timestamp(value: Any, index: int) -> str:
    """The client's timestamp as text: an ISO string as given, or epoch seconds/ms converted."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        raise ValueError(f"lines[{index}].ts must be an ISO-8601 string or a number")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"lines[{index}].ts is out of range") from None
    if isinstance(value, str) and 0 < len(value) <= MAX_TS_CHARS and not _CONTROL.search(value):
        return value.replace(" ", "T")
    raise ValueError(f"lines[{index}].ts must be an ISO-8601 string or a number")
