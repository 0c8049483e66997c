"""Real ``tether serve`` processes on ephemeral ports, for live tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TETHER = [sys.executable, "-m", "tether"]
LISTENING = re.compile(r"listening on (http://\S+?)/? ")

#: Settings that make live tests fast; tests override what they need.
FAST = {"TETHER_ECHO_DELAY": "0.02", "TETHER_LOG_LEVEL": "INFO"}


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    output: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: the process dies without any clean-up, like a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        path = self.data_dir / "logs" / "app.log"
        return path.read_text() if path.exists() else ""


def start_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    port: int = 0,
    timeout: float = 30,
) -> ServerProcess:
    """Start ``tether serve`` on 127.0.0.1 and return once it accepts connections."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **FAST, "TETHER_DATA_DIR": str(data_dir), **(env or {})}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    stderr = open(data_dir / "server.stderr", "a")
    proc = subprocess.Popen(
        [*TETHER, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=full_env,
        cwd=ROOT,
    )
    stderr.close()
    assert proc.stdout is not None
    found: list[str] = []
    output: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            match = LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError("tether serve did not start in time")
    if not found:
        proc.wait(5)
        err = (data_dir / "server.stderr").read_text()
        raise RuntimeError(f"tether serve exited with {proc.returncode}: {err[-2000:]}")
    return ServerProcess(proc, found[0], data_dir, output)
