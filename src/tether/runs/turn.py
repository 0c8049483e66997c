"""An agent's turn: what it is given to answer one user message."""

from __future__ import annotations

from tether.agents import Agent, AgentError, AgentRegistry, ChatMessage, Turn, UnknownAgent
from tether.runs.retry import patiently
from tether.store import MessageRow, Store


async def build_turn(
    store: Store, agents: AgentRegistry, agent_name: str, question: MessageRow
) -> tuple[Agent, Turn]:
    """The agent called ``agent_name`` and its turn for ``question``: the conversation up to
    it (only the question, for an agent that reads no history) and the agent's state kept with
    the session. An agent that is not configured is the agent's error (AgentError)."""
    session_id = question["session_id"]
    try:
        agent = agents.get(agent_name)
    except UnknownAgent:
        raise AgentError(f"agent {agent_name!r} is not configured") from None
    history, state = await patiently(
        lambda: store.turn_inputs(session_id, question["position"] if agent.history else None),
        f"turn of session {session_id}",
    )
    messages = (
        [ChatMessage(role, content) for role, content in history]  # type: ignore[arg-type]
        if agent.history else [ChatMessage("user", question["content"])]
    )
    return agent, Turn(session_id=session_id, messages=messages, state=state)
