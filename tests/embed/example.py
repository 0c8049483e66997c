"""The example app (examples/fastapi_app) started as its README says: uvicorn in a subprocess,
on port 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app"
RUNNING = re.compile(r"Uvicorn running on (http://\S+)")


@dataclass
class Example:
    url: str
    proc: subprocess.Popen[bytes]
    stderr: Path

    def cookie(self, user: str) -> str:
        """The ``Cookie`` header the app's ``/login`` sets for ``user``."""
        response = httpx.post(f"{self.url}/login", json={"user": user}, timeout=10)
        response.raise_for_status()
        return f"session={response.cookies['session']}"

    def log(self) -> str:
        return self.stderr.read_text()


@contextmanager
def run_example(
    tmp_path: Path, python: str | Path = sys.executable, env: dict[str, str] | None = None,
    # env: the whole environment (default: this process's)
    where: Path = EXAMPLE,
) -> Iterator[Example]:
    """``uvicorn app:app`` in the example's directory (``where``, a copy of it) with
    ``TETHER_DATA_DIR`` in ``tmp_path``; stopped with SIGTERM (uvicorn's graceful shutdown runs
    the lifespan's end) afterwards."""
    stderr = tmp_path / "uvicorn.stderr"
    base = env if env is not None else dict(os.environ)
    command = [str(python), "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "0"]
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            command, cwd=where, stdout=subprocess.DEVNULL, stderr=err,
            env={**base, "TETHER_DATA_DIR": str(tmp_path / "data"), "AGENT_DELAY": "0.05"},
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := RUNNING.search(stderr.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the example did not start: {stderr.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Example(found.group(1), proc, stderr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
