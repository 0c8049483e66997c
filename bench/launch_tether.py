"""Bench-only launcher: ``tether serve`` with the ``bench`` agent added.

The server is the unchanged ``tether`` package: this only wraps ``tether.app.load_agents`` so the
registry also offers :class:`bench.agent.BenchAgent` (default agent stays ``echo``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tether.app
from bench.agent import BenchAgent
from tether.agents.registry import AgentRegistry

_load_agents = tether.app.load_agents


def load_agents(data_dir: Path, default: str, echo_delay: float, env: Any) -> AgentRegistry:
    registry = _load_agents(data_dir, default, echo_delay, env)
    agents = [registry.get(d["name"]) for d in registry.describe()]
    return AgentRegistry([*agents, BenchAgent()], default=registry.default)


def main() -> int:
    tether.app.load_agents = load_agents  # type: ignore[assignment]
    from tether.cli import main as tether_main

    return tether_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
