"""FrontendLogWriter: validation, layout, size caps and rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tether.client_logs import FrontendLogWriter, LogQuotaExceeded
from tether.logtail import split_lines


def fixed(day: int = 24) -> datetime:
    return datetime(2024, 11, day, 12, 0, tzinfo=UTC)


def writer(tmp_path: Path, **limits: int) -> FrontendLogWriter:
    return FrontendLogWriter(tmp_path / "frontend", now=fixed, **limits)


TS = "2024-11-24T12:00:00.000Z"


def line(msg: str, level: str = "info", ts: object = TS) -> dict[str, object]:
    return {"ts": ts, "level": level, "msg": msg}


def test_writes_one_file_per_day_and_client(tmp_path: Path) -> None:
    logs = writer(tmp_path)
    batch = [line("[Connection] wake: visibilitychange"), line("x", "warn")]
    assert logs.write("tab-1", batch) == 2
    path = tmp_path / "frontend" / "2024-11-24" / "tab-1.log"
    assert path.read_text().splitlines() == [
        "2024-11-24T12:00:00.000Z INFO  [Connection] wake: visibilitychange",
        "2024-11-24T12:00:00.000Z WARN  x",
    ]
    assert logs.path_for("tab-1") == path


def test_numeric_timestamps_and_missing_ones(tmp_path: Path) -> None:
    logs = writer(tmp_path)
    logs.write("c", [line("ms", ts=1732449600000), line("s", ts=1732449600.5), {"msg": "none"}])
    text = (tmp_path / "frontend" / "2024-11-24" / "c.log").read_text().splitlines()
    assert text[0].startswith("2024-11-24T12:00:00.000+00:00 INFO")
    assert text[1].startswith("2024-11-24T12:00:00.500+00:00")
    assert text[2] == "- INFO  none"


def test_a_message_cannot_forge_lines(tmp_path: Path) -> None:
    logs = writer(tmp_path)
    logs.write("c", [line("one\nFAKE ERROR two\x1b[31m")])
    text = (tmp_path / "frontend" / "2024-11-24" / "c.log").read_text()
    assert text.count("\n") == 1
    assert "one\\nFAKE ERROR two?[31m" in text


def test_unicode_line_breaks_cannot_forge_lines(tmp_path: Path) -> None:
    logs = writer(tmp_path)
    logs.write("c", [line("a\u2028ERROR b\u2029ERROR c\x85ERROR d")])
    text = (tmp_path / "frontend" / "2024-11-24" / "c.log").read_text("utf-8")
    assert len(text.splitlines()) == 1  # what the old `logs tail` split on
    assert "a\\u2028ERROR b\\u2029ERROR c\\u0085ERROR d" in text


def test_tail_splits_at_newlines_only() -> None:
    assert split_lines("a\u2028b\x85c\r\nd\n\ne\n") == ["a\u2028b\x85c", "d", "", "e"]
    assert split_lines("partial") == ["partial"]


def test_all_clients_share_a_daily_cap(tmp_path: Path) -> None:
    logs = writer(tmp_path, max_day_bytes=1000)
    for n in range(3):
        logs.write(f"client-{n}", [line("x" * 250)])
    with pytest.raises(LogQuotaExceeded):
        logs.write("client-new", [line("x" * 250)])
    day = tmp_path / "frontend" / "2024-11-24"
    assert not (day / "client-new.log").exists()
    assert writer(tmp_path, max_day_bytes=1000).write("c", [line("y" * 10)]) == 1
    with pytest.raises(LogQuotaExceeded):  # a restarted server counts what is on disk
        writer(tmp_path, max_day_bytes=1000).write("d", [line("y" * 250)])
    tomorrow = FrontendLogWriter(tmp_path / "frontend", now=lambda: fixed(25),
                                 max_day_bytes=1000)
    assert tomorrow.write("client-new", [line("x" * 250)]) == 1


@pytest.mark.parametrize(
    ("client_id", "lines", "message"),
    [
        ("../etc", [line("x")], "client_id"),
        ("", [line("x")], "client_id"),
        ("a" * 65, [line("x")], "client_id"),
        (None, [line("x")], "client_id"),
        ("c", "not a list", "lines must be a list"),
        ("c", ["text"], "lines[0] must be an object"),
        ("c", [{"msg": 3}], "lines[0].msg"),
        ("c", [line("x", level="loud")], "lines[0].level"),
        ("c", [line("x", ts=True)], "lines[0].ts"),
        ("c", [line("x", ts="x" * 100)], "lines[0].ts"),
        ("c", [line("x"), line("y", ts=[1])], "lines[1].ts"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(
    tmp_path: Path, client_id: object, lines: object, message: str
) -> None:
    logs = writer(tmp_path)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        logs.write(client_id, lines)  # type: ignore[arg-type]
    assert not (tmp_path / "frontend").exists()


def test_batch_size_is_capped(tmp_path: Path) -> None:
    logs = writer(tmp_path, max_batch_lines=3)
    with pytest.raises(ValueError, match="at most 3 lines"):
        logs.write("c", [line("x")] * 4)
    assert logs.write("c", []) == 0


def test_rotation_keeps_at_most_max_files_per_day(tmp_path: Path) -> None:
    logs = writer(tmp_path, max_file_bytes=200, max_files_per_day=3)
    for n in range(40):
        logs.write("c", [line(f"message number {n:03d}")])
    day = tmp_path / "frontend" / "2024-11-24"
    files = sorted(p.name for p in day.iterdir())
    assert files == ["c.1.log", "c.2.log", "c.log"]
    assert all(p.stat().st_size <= 200 for p in day.iterdir())
    assert "message number 039" in (day / "c.log").read_text()
    assert "message number 000" not in "".join(p.read_text() for p in day.iterdir())


def test_a_huge_message_is_truncated(tmp_path: Path) -> None:
    logs = writer(tmp_path, max_file_bytes=100_000)
    logs.write("c", [line("y" * 50_000)])
    text = (tmp_path / "frontend" / "2024-11-24" / "c.log").read_text()
    assert len(text) < 4100


def test_a_new_day_starts_a_new_folder(tmp_path: Path) -> None:
    days = iter([fixed(24), fixed(25)])
    logs = FrontendLogWriter(tmp_path, now=lambda: next(days))
    logs.write("c", [line("a")])
    logs.write("c", [line("b")])
    assert (tmp_path / "2024-11-24" / "c.log").exists()
    assert (tmp_path / "2024-11-25" / "c.log").exists()
