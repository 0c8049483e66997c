"""The one launcher of server processes (tests and benchmarks): ready on its listening line,
and a clear failure, with the server's stderr, when it exits or hangs instead."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.server import start_process

LISTENS = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(f'fake listening on http://127.0.0.1:{s.getsockname()[1]}/ (test)', flush=True)\n"
    "time.sleep(60)\n"
)


def test_ready_once_it_prints_where_it_listens(tmp_path: Path) -> None:
    server = start_process("fake", [sys.executable, "-c", LISTENS], {}, tmp_path, timeout=20)
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        assert server.cpu_seconds() >= 0 and server.rss() > 0
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_exit_before_listening_fails_with_its_stderr(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('no database here'); sys.exit(3)"
    with pytest.raises(RuntimeError, match="fake exited with 3: no database here"):
        start_process("fake", [sys.executable, "-c", code], {}, tmp_path, timeout=20)


def test_a_server_that_never_listens_times_out_with_its_stderr(tmp_path: Path) -> None:
    code = "import sys, time; sys.stderr.write('stuck'); sys.stderr.flush(); time.sleep(60)"
    with pytest.raises(TimeoutError, match="stuck"):
        start_process("fake", [sys.executable, "-c", code], {}, tmp_path, timeout=1)
