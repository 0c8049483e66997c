"""``python -m bench profile``: sample the Tether server with py-spy under streaming and fan-out.

Writes collapsed stacks (``<out>/<load>.txt``, loadable by speedscope or flamegraph.pl) and
prints, per load, the functions with the most samples on top of the stack (self) and the
Tether/library frames with the most samples anywhere in the stack (inclusive).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench import procs


def summarize(path: Path, top: int = 25) -> str:
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1]
                  + ")" if " (" in f else f for f in stack.split(";")]
        if frames:
            self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    out = [f"{path.stem}: {total} samples", "  self:"]
    out += [f"    {n / total:6.1%}  {f}" for f, n in self_t.most_common(top)]
    out += ["  inclusive:"]
    out += [f"    {n / total:6.1%}  {f}" for f, n in incl.most_common(top * 2)]
    return "\n".join(out)


def record(server: procs.ServerProcess, out: Path, seconds: float) -> threading.Thread:
    def go() -> None:
        subprocess.run([str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                        str(server.pid), "--duration", str(int(seconds)), "--rate", "250",
                        "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
                       check=False, capture_output=True)

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def profile(args: argparse.Namespace) -> int:
    procs.use_source(args.ref)
    procs.raise_fd_limit()
    procs.pin_self()
    from bench.scenarios.fanout import run_fanout
    from bench.scenarios.streaming import run_streaming

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loads: list[tuple[str, list[str], Any]] = [
        ("streaming", [f"s{i}" for i in range(200)],
         lambda srv, tok: run_streaming(srv, tok, 200, 400, 50.0)),
        ("fanout", ["fan"], lambda srv, tok: run_fanout(srv, tok, 500, 8, 6.0, 1)),
    ]
    for name, users, scenario in loads:
        with procs.tether_server(users) as (srv, tokens):
            thread = record(srv, out / f"{name}.txt", 6)
            result = asyncio.run(scenario(srv, tokens))
            thread.join()
        print({k: v for k, v in result.items() if k != "steps"})
        print(summarize(out / f"{name}.txt"))
    return 0
