"""Agents: what answers in a session (see tether.agents.base)."""

from tether.agents.base import Agent, AgentError, ChatMessage, Turn
from tether.agents.registry import AgentRegistry, UnknownAgent

__all__ = ["Agent", "AgentError", "AgentRegistry", "ChatMessage", "Turn", "UnknownAgent"]
