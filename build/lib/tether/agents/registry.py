"""The named agents a server offers, and which one new sessions get by default."""

from __future__ import annotations

from collections.abc import Iterable

from tether.agents.base import Agent


class UnknownAgent(KeyError):
    """No agent of that name is configured."""


class AgentRegistry:
    """Agents by name; ``default`` is used when ``create_session`` names none."""

    def __init__(self, agents: Iterable[Agent], default: str) -> None:
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            if agent.name in self._agents:
                raise ValueError(f"agent {agent.name!r} is configured twice")
            self._agents[agent.name] = agent
        if default not in self._agents:
            raise UnknownAgent(default)
        self.default = default

    def get(self, name: str) -> Agent:
        try:
            return self._agents[name]
        except KeyError:
            raise UnknownAgent(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def describe(self) -> list[dict[str, str]]:
        """The list sent in ``hello``: each agent's name and kind."""
        return [{"name": a.name, "kind": a.kind} for a in self._agents.values()]
