"""Build the agent registry from settings (the echo agent is always there)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tether.agents.echo import EchoAgent
from tether.agents.registry import AgentRegistry


def load_agents(
    data_dir: Path, default: str, echo_delay: float, env: Mapping[str, str]
) -> AgentRegistry:
    """The registry of agents this server offers; ``default`` must name one of them."""
    return AgentRegistry([EchoAgent("echo", echo_delay)], default=default)
