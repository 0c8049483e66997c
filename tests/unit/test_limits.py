"""The pure parts of tether.limits and tether.packetlog, on a fake clock."""

from __future__ import annotations

import logging

from tether.limits import AuthAttempts
from tether.packetlog import OneLineRateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failed_sign_ins_run_out_per_address_and_come_back() -> None:
    clock = Clock()
    attempts = AuthAttempts(burst=3, per_minute=6, clock=clock)
    for _ in range(3):
        assert attempts.allowed("10.0.0.1")
        attempts.failed("10.0.0.1")
    assert not attempts.allowed("10.0.0.1")
    assert attempts.allowed("10.0.0.2")  # another address is not affected
    clock.now += 9  # 6 per minute: one every 10 s
    assert not attempts.allowed("10.0.0.1")
    clock.now += 1
    assert attempts.allowed("10.0.0.1")


def record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("tether.engineio", logging.ERROR, __file__, 1, message, None,
                             exc_info)


def test_packet_errors_become_one_line_and_are_rate_limited() -> None:
    clock = Clock()
    log_filter = OneLineRateLimited(rate=1.0, burst=2, clock=clock)
    first = record("message async handler error", ValueError("bad packet\nsecond line"))
    assert log_filter.filter(first)
    assert first.exc_info is None and first.exc_text is None
    assert first.getMessage() == (
        "message async handler error: ValueError: 'bad packet\\nsecond line'"
    )
    assert "\n" not in logging.Formatter().format(first)
    assert log_filter.filter(record("again"))
    assert not log_filter.filter(record("dropped"))
    assert not log_filter.filter(record("dropped"))
    clock.now += 1
    later = record("later")
    assert log_filter.filter(later)
    assert later.getMessage() == "later (2 similar lines dropped)"
