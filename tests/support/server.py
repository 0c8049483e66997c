"""Server processes on ephemeral ports: the one launcher of the live tests and the benchmarks.

``start_process`` runs any server that prints ``listening on http://host:port`` (``tether
serve``, the benchmark's baselines) and returns once it has; ``start_server`` is ``tether serve``
with the settings that make live tests fast. Use a subprocess where the test needs one (the CLI,
SIGKILL, several nodes); otherwise prefer ``tests.support.inprocess``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TETHER = [sys.executable, "-m", "tether"]
LISTENING = re.compile(r"listening on (http://\S+?)/? ")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

#: Settings that make live tests fast; tests override what they need.
FAST = {"TETHER_ECHO_DELAY": "0.02", "TETHER_LOG_LEVEL": "INFO"}


@dataclass
class ServerProcess:
    """A started server: its process, URL, working (data) directory and stdout lines so far."""

    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    output: list[str] = field(default_factory=list)
    #: What it is, for messages and file names (``tether``, ``baseline``, ``node``).
    kind: str = "tether"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

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
        """Tether's application log (``<data dir>/logs/app.log``) so far."""
        path = self.data_dir / "logs" / "app.log"
        return path.read_text() if path.exists() else ""

    def cpu_seconds(self) -> float:
        """user + system CPU time of the server process (all its threads), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss(self) -> int:
        """Resident set size in bytes."""
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * PAGE


def start_process(
    kind: str,
    cmd: list[str],
    env: dict[str, str],
    data_dir: Path,
    cwd: Path = ROOT,
    timeout: float = 30,
    preexec_fn: Callable[[], None] | None = None,
) -> ServerProcess:
    """Run ``cmd`` (environment ``os.environ`` + ``env``; stderr to ``<data_dir>/<kind>.stderr``)
    and return once it printed the URL it listens on; fail with its stderr if it exits first."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir / f"{kind}.stderr"
    with stderr_path.open("a") as stderr:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, cwd=cwd, preexec_fn=preexec_fn,
        )
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
    if not ready.wait(timeout):
        proc.kill()
        proc.wait(5)
        raise TimeoutError(f"{kind} did not start in {timeout}s: {stderr_path.read_text()[-2000:]}")
    if not found:
        proc.wait(5)
        err = stderr_path.read_text()[-2000:]
        raise RuntimeError(f"{kind} exited with {proc.returncode}: {err}")
    return ServerProcess(proc, found[0], data_dir, output, kind)


def start_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    port: int = 0,
    timeout: float = 30,
) -> ServerProcess:
    """Start ``tether serve`` on 127.0.0.1 and return once it accepts connections."""
    return start_process(
        "server",
        [*TETHER, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        {**FAST, "TETHER_DATA_DIR": str(data_dir), **(env or {})},
        data_dir,
        timeout=timeout,
    )
