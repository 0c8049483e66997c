"""Bench-only launcher: ``tether serve`` with the ``bench`` agent added.

The server is the unchanged ``tether`` package, built through its public constructor: the agents
are the ones settings give (default agent stays ``echo``) plus :class:`bench.agent.BenchAgent`.
"""

from __future__ import annotations

import os
import sys

from bench.agent import BenchAgent
from tether.agents.config import load_agents
from tether.agents.registry import AgentRegistry
from tether.app import Tether
from tether.cli import main as tether_main
from tether.settings import Settings


def build(settings: Settings) -> Tether:
    configured = load_agents(
        settings.data_dir, settings.agent, settings.echo_delay, dict(os.environ)
    )
    agents = [configured.get(d["name"]) for d in configured.describe()]
    return Tether(settings, agents=AgentRegistry([*agents, BenchAgent()],
                                                 default=configured.default))


def main() -> int:
    return tether_main(sys.argv[1:], build=build)


if __name__ == "__main__":
    sys.exit(main())
