"""The database's own CPU per send beside Tether's, under benchmark 5's closed loop (PostgreSQL).

On this machine PostgreSQL shares the two cores with the server under test and the load
generator, so its CPU per send bounds the persistence figure as much as Tether's does
(docs/performance.md, the full run's prose). One Tether server on a fresh PostgreSQL database
(as ``bench run`` makes them), ``run_persistence`` with ``senders`` senders for ``duration``
seconds; the CPU of every process named ``postgres`` (its own and its reaped children's, from
/proc) and the server's, read before and after, per send.

    python -m bench.database_cpu one|many [senders [duration_s]]
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.procs import postgres_database, tether_server
from bench.scenarios.persistence import run_persistence, sender_users

CLK_TCK = os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """user + system CPU of every process named ``postgres``, with its reaped children's (the
    backends of connections closed meanwhile are children of the postmaster)."""
    ticks = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        ticks += sum(int(f) for f in fields[11:15])
    return ticks / CLK_TCK


@dataclass(frozen=True)
class DatabaseCpu:
    sends: int
    sends_per_s: float
    server_cpu_s: float
    database_cpu_s: float

    def line(self, shape: str) -> str:
        return (f"{shape}: {self.sends} sends ({self.sends_per_s:,.0f}/s); Tether CPU "
                f"{1000 * self.server_cpu_s / self.sends:.2f} ms per send, PostgreSQL CPU "
                f"{1000 * self.database_cpu_s / self.sends:.2f} ms per send")


def measure(one_session: bool, senders: int = 20, duration: float = 5.0) -> DatabaseCpu:
    users = sorted(set(sender_users(senders, one_session)))
    with postgres_database() as url, tether_server(users, database_url=url) as (server, tokens):
        server0, database0 = server.cpu_seconds(), postgres_cpu_seconds()
        result = asyncio.run(run_persistence(server, tokens, senders, one_session, duration))
        server1, database1 = server.cpu_seconds(), postgres_cpu_seconds()
    return DatabaseCpu(result["sends"], result["sends_per_s"], server1 - server0,
                       database1 - database0)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("one", "many"):
        print("usage: python -m bench.database_cpu one|many [senders [duration_s]]",
              file=sys.stderr)
        return 2
    senders = int(argv[1]) if len(argv) > 1 else 20
    duration = float(argv[2]) if len(argv) > 2 else 5.0
    print(measure(argv[0] == "one", senders, duration).line(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
