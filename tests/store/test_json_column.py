"""The JSON column (``messages.parts``) written by orjson, on SQLite and PostgreSQL: what it
stores is JSON the standard library reads as before, non-ASCII kept, and what orjson refuses
(or would read otherwise) is stored and read back as the standard library did."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import sqlalchemy as sa

from tether.accounts import User
from tether.db.engine import is_sqlite
from tether.db.schema import messages
from tether.store import Store


async def _ended_with(store: Store, user: User, parts: list[dict[str, Any]]) -> str:
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    answer = await store.create_assistant_message(sid, None)
    assert answer is not None
    ended = await store.finish_message(sid, answer["id"], "complete", "x", 1, parts=parts)  # type: ignore[arg-type]
    assert ended is not None
    return answer["id"]


async def _stored_text(store: Store, message_id: str) -> str:
    async with store.engine.connect() as conn:
        return str((await conn.execute(
            sa.select(sa.cast(messages.c.parts, sa.Text)).where(messages.c.id == message_id)
        )).scalar())


async def test_stored_parts_are_json_the_standard_library_reads_with_non_ascii_kept(
    store: Store, user: User
) -> None:
    parts = [{"id": "p1", "type": "text", "text": "café \u2028 ☕ \"quoted\"\n"},
             {"id": "t1", "type": "tool", "input": {"n": 2**63 - 1, "f": 0.5, "ok": True}}]
    message_id = await _ended_with(store, user, parts)
    text = await _stored_text(store, message_id)
    assert json.loads(text) == parts
    assert "café" in text and "☕" in text, "not escaped"
    read = await store.message_by_id(message_id)
    assert read is not None and read["parts"] == parts


async def test_what_orjson_refuses_is_stored_as_the_standard_library_stored_it(
    store: Store, user: User
) -> None:
    big = [{"id": "t1", "type": "tool", "input": {"n": 2**70, "m": -(2**64)}}]
    message_id = await _ended_with(store, user, big)
    read = await store.message_by_id(message_id)
    assert read is not None and read["parts"] == big
    n = read["parts"][0]["input"]["n"]
    assert n == 2**70 and isinstance(n, int)

    keyed: list[dict[str, Any]] = [{"id": "t1", "type": "tool", "input": {1: "one", None: 2}}]
    message_id = await _ended_with(store, user, keyed)
    read = await store.message_by_id(message_id)
    assert read is not None and read["parts"] == json.loads(json.dumps(keyed))


async def test_a_long_digit_run_in_a_string_reads_back_unchanged(
    store: Store, user: User
) -> None:
    parts = [{"id": "p1", "type": "text", "text": "order 12345678901234567890123"}]
    read = await store.message_by_id(await _ended_with(store, user, parts))
    assert read is not None and read["parts"] == parts


async def test_rows_written_by_the_standard_library_read_back(store: Store, user: User) -> None:
    message_id = await _ended_with(store, user, [{"id": "p1", "type": "text", "text": "a"}])
    old = '[{"id": "p1", "type": "text", "text": "caf\\u00e9 \\ud83d\\ude00"}]'
    if is_sqlite(store.engine):
        # SQLite kept whatever the standard library wrote, NaN included (PostgreSQL's json
        # type refuses it).
        old = '[{"id": "p1", "type": "text", "text": "caf\\u00e9 \\ud83d\\ude00", "x": NaN}]'
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE messages SET parts = :parts WHERE id = :id"),
            {"parts": old, "id": message_id},
        )
    read = await store.message_by_id(message_id)
    assert read is not None
    [part] = read["parts"]
    assert part["text"] == "café 😀"
    if is_sqlite(store.engine):
        assert math.isnan(part["x"])
