"""What an agent's turn reads (Store.turn_inputs), on SQLite and PostgreSQL: the conversation
up to the question and the agent's state, in one statement."""

from __future__ import annotations

import uuid

from tether.accounts import User
from tether.store import Store


async def _conversation(store: Store, user: User) -> tuple[str, int]:
    """A session of a question, its answer and a second question: (id, the second's position)."""
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    first = await store.add_user_message(user.id, sid, "q1", "first question")
    assert first is not None
    answer = await store.create_assistant_message(sid, first[0]["id"])
    assert answer is not None
    await store.finish_message(sid, answer["id"], "complete", "an answer", 1)  # type: ignore[arg-type]
    second = await store.add_user_message(user.id, sid, "q2", "second question")
    assert second is not None
    return sid, second[0]["position"]


async def test_the_conversation_up_to_the_question_and_the_agents_state(
    store: Store, user: User
) -> None:
    sid, position = await _conversation(store, user)
    whole = [("user", "first question"), ("assistant", "an answer"), ("user", "second question")]
    assert await store.turn_inputs(sid, position) == (whole, None)
    await store.set_agent_state(sid, "resume-7")
    assert await store.turn_inputs(sid, position) == (whole, "resume-7")
    assert await store.turn_inputs(sid, position - 1) == (whole[:2], "resume-7")
    assert await store.turn_inputs(sid, None) == ([], "resume-7")
    await store.set_agent_state(sid, "")
    assert await store.turn_inputs(sid, position) == (whole, "")


async def test_no_such_session_has_no_inputs(store: Store) -> None:
    assert await store.turn_inputs(str(uuid.uuid4()), 3) == ([], None)
    assert await store.turn_inputs(str(uuid.uuid4()), None) == ([], None)


async def test_the_inputs_are_one_statement(
    store: Store, user: User, statements: list[str]
) -> None:
    sid, position = await _conversation(store, user)
    await store.set_agent_state(sid, "resume-7")
    before = len(statements)
    await store.turn_inputs(sid, position)
    run = [s for s in statements[before:] if s.split(None, 1)[0] not in ("BEGIN", "COMMIT")]
    assert len(run) == 1, run
