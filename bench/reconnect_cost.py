"""Server CPU per reconnect, without streaming: the storm's reconnects on idle sessions.

Followers of idle sessions (``followers`` per user, one session each) subscribe, wait past the
auth cache's lifetime (5 s, as in the storm), are dropped at once and reconnect with
``subscribe(after_seq=1)``. Printed: when every one and the median one was back, and the
server's CPU (from /proc) from the drop to all back plus 0.3 s, per reconnect
(docs/performance.md, "Storm, second pass").

    python -m bench.reconnect_cost tether|node [users [followers [wait_s]]]
        [--ref REF] [--profile OUT]

Defaults: 100 users, 10 followers each, 6 s; ``--ref`` runs the server of git ``REF`` (as
``bench run --ref`` does) for an A/B with the work tree; ``--profile`` samples the
server with py-spy for 4 s from the drop (collapsed stacks to OUT, summary printed).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.client import SioClient, connect_many
from bench.scenarios.common import auth_for, expect_ok


@dataclass
class ReconnectCost:
    """One drop and reconnect of every follower."""

    reconnects: int
    all_back_s: float
    median_back_s: float
    server_cpu_s: float

    @property
    def cpu_ms_per_reconnect(self) -> float:
        return self.server_cpu_s / self.reconnects * 1000

    def line(self) -> str:
        return (
            f"{self.reconnects} reconnects: all back {self.all_back_s:.2f}s median "
            f"{self.median_back_s:.2f}s; server CPU {self.server_cpu_s:.2f}s, "
            f"{self.cpu_ms_per_reconnect:.2f} ms per reconnect"
        )


async def measure(
    server: procs.ServerProcess, tokens: dict[str, str] | None, recovery: bool,
    users: int, followers: int, wait: float, on_drop: Callable[[], object] | None = None,
) -> ReconnectCost:
    names = [f"r{i}" for i in range(users)]
    drivers = [SioClient(server.url, auth_for(tokens, u)) for u in names]
    await connect_many(drivers)
    session_of: dict[str, str] = {}
    for driver, user in zip(drivers, names, strict=True):
        ack = await expect_ok(driver.call(
            "create_session", {"id": str(uuid.uuid4()), "agent": "bench"}))
        session_of[user] = ack["session"]["id"]
        await expect_ok(driver.call("send", {
            "session_id": session_of[user], "client_msg_id": uuid.uuid4().hex,
            "content": "bench 5 500"}))
    await asyncio.sleep(1.5)  # the answers end: the sessions are idle
    pairs = [(SioClient(server.url, auth_for(tokens, u), recovery=recovery), u)
             for u in names for _ in range(followers)]
    await connect_many([f for f, _ in pairs])
    await asyncio.gather(*(
        expect_ok(f.call("subscribe", {"session_id": session_of[u]})) for f, u in pairs))
    await asyncio.sleep(wait)
    if on_drop is not None:
        on_drop()
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    for f, _ in pairs:
        f.abort()

    async def back(f: SioClient, user: str) -> float:
        await f.connect(60)
        await expect_ok(f.call("subscribe", {"session_id": session_of[user], "after_seq": 1}))
        return time.monotonic() - t0

    times = sorted(await asyncio.gather(*(back(f, u) for f, u in pairs)))
    await asyncio.sleep(0.3)
    cpu = server.cpu_seconds() - cpu0
    for f, _ in pairs:
        f.abort()
    for d in drivers:
        d.abort()
    return ReconnectCost(len(pairs), times[-1], times[len(times) // 2], cpu)


def run(kind: str, users: int = 100, followers: int = 10, wait: float = 6.0,
        profile: Path | None = None) -> ReconnectCost:
    """One measurement against a fresh ``kind`` server ("tether" or "node"); with ``profile``,
    py-spy samples the server (``--gil``) for 4 s from the drop into that file."""
    with ExitStack() as stack:
        if kind == "tether":
            server, tokens = stack.enter_context(
                procs.tether_server([f"r{i}" for i in range(users)]))
        else:
            server, tokens = stack.enter_context(procs.baseline_server("node")), None
        on_drop = None
        if profile is not None:
            from bench.profile import record

            def on_drop() -> object:
                return record(server, profile, 4)
        return asyncio.run(
            measure(server, tokens, kind != "tether", users, followers, wait, on_drop))


def main(argv: list[str]) -> None:
    options: dict[str, str] = {}
    for name in ("--ref", "--profile"):
        if name in argv:
            at = argv.index(name)
            options[name] = argv[at + 1]
            argv = argv[:at] + argv[at + 2:]
    ref = options.get("--ref")
    profile = Path(options["--profile"]) if "--profile" in options else None
    if not argv or argv[0] not in ("tether", "node"):
        raise SystemExit(__doc__)
    print(procs.use_source(ref), file=sys.stderr)
    sizes = [int(a) for a in argv[1:3]]
    wait = float(argv[3]) if len(argv) > 3 else 6.0
    procs.raise_fd_limit()
    procs.pin_self()
    print(run(argv[0], *sizes, wait=wait, profile=profile).line())
    if profile is not None:
        time.sleep(4)  # py-spy writes its file when its duration is over
        from bench.profile import summarize
        print(summarize(profile))


if __name__ == "__main__":
    main(sys.argv[1:])
