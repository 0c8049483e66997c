"""Engine.IO's log, tamed: a malformed packet is one line, and at most a few lines per second.

python-socketio raises on a packet it cannot decode and Engine.IO logs the exception with its
full traceback (about 20 lines), once per packet: any client could flood the log. The server
hands Engine.IO this logger (``engineio_logger``, a public option) instead of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tether.ratelimit import TokenBucket

#: Lines per second on average, and the burst allowed, before lines are dropped and counted.
LINES_PER_SECOND = 1.0
LINE_BURST = 5


class OneLineRateLimited(logging.Filter):
    """Drops tracebacks (keeping the exception's type and message on the line) and lines beyond
    the rate; the next line let through says how many were dropped."""

    def __init__(
        self,
        rate: float = LINES_PER_SECOND,
        burst: int = LINE_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.bucket = TokenBucket(rate, burst, clock())
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.bucket.take(self.clock()):
            self.dropped += 1
            return False
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message = f"{message}: {type(exc).__name__}: {str(exc)[:200]!r}"
        if self.dropped:
            message += f" ({self.dropped} similar lines dropped)"
            self.dropped = 0
        record.msg, record.args = message, None
        record.exc_info = record.exc_text = None
        record.stack_info = None
        return True


def engineio_logger() -> logging.Logger:
    """The logger to give Engine.IO: under ``tether`` (so it reaches the server's log files),
    warnings and up only, filtered as above."""
    logger = logging.getLogger("tether.engineio")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, OneLineRateLimited) for f in logger.filters):
        logger.addFilter(OneLineRateLimited())
    return logger
