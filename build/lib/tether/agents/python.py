"""Python agents: an async generator function (or any object with the agent protocol) given in
code, or named in agents.toml by ``kind = "python"`` and ``entrypoint = "package.module:attr"``.

The simplest agent is a function::

    async def answer(turn: Turn) -> AsyncIterator[str]:
        async for text in my_model(turn.messages):
            yield text

It gets the :class:`~tether.agents.base.Turn` (the conversation, its stored ``state`` and
``set_state``); cancelling the answer cancels the generator (``GeneratorExit`` / ``CancelledError``
reach it at its ``yield`` or ``await``, so ``finally`` and ``async with`` clean up). An exception
it raises ends the answer ``failed``: :class:`~tether.agents.base.AgentError` shows its message to
the user, anything else shows a short generic message and logs the traceback (tether.runs).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Callable

from tether.agents.base import Agent, Turn

#: What an agent function looks like: called with the turn, returns an async iterator of text.
AgentFunction = Callable[[Turn], AsyncIterator[str]]


class EntrypointError(ValueError):
    """An entrypoint cannot be loaded; the message says why in one line."""


class PythonAgent:
    """An agent made of an async generator function."""

    kind = "python"

    def __init__(self, name: str, function: AgentFunction, *, history: bool = True) -> None:
        if not callable(function):
            raise TypeError(f"agent {name!r}: {function!r} is not callable")
        self.name = name
        self.function = function
        self.history = history

    def stream(self, turn: Turn) -> AsyncIterator[str]:
        produced = self.function(turn)
        if not hasattr(produced, "__anext__"):
            raise TypeError(
                f"agent {self.name!r}: {_describe(self.function)} returned "
                f"{type(produced).__name__}, not an async iterator (write it as "
                "`async def ...: yield text`)"
            )
        return produced


def as_agent(name: str, value: object, *, history: bool = True) -> Agent:
    """An agent called ``name`` from ``value``: an async generator function (or any callable
    returning an async iterator), or an object with a ``stream(turn)`` method (its own
    ``history`` attribute, if it has one, wins over ``history``)."""
    stream = getattr(value, "stream", None)
    if callable(stream) and not inspect.isclass(value):
        return PythonAgent(name, stream, history=bool(getattr(value, "history", history)))
    if callable(value) and not inspect.isclass(value):
        return PythonAgent(name, value, history=history)
    raise TypeError(
        f"agent {name!r}: {value!r} is neither an async generator function nor an object "
        "with a stream(turn) method"
    )


def load_entrypoint(entrypoint: str) -> object:
    """The object named by ``"package.module:attribute"`` (the attribute may be dotted)."""
    module_name, sep, attribute = entrypoint.partition(":")
    if not sep or not module_name or not attribute:
        raise EntrypointError(
            f"entrypoint {entrypoint!r} must look like 'package.module:attribute'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise EntrypointError(f"entrypoint {entrypoint!r}: no module named {exc.name!r}") from None
    except Exception as exc:
        raise EntrypointError(
            f"entrypoint {entrypoint!r}: importing {module_name} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise EntrypointError(
                f"entrypoint {entrypoint!r}: {module_name} has no attribute {attribute!r}"
            ) from None
    return value


def _describe(function: object) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
