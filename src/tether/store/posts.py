"""Messages an application posts into a session (tether.publish): user or assistant, complete
at once, idempotent by the caller's key."""

from __future__ import annotations

from sqlalchemy import Connection

from tether.protocol import MessageStatus
from tether.store.messages import MessageQueries, find_by_client_msg_id, insert_new
from tether.store.rows import ContentMismatch, MessageRow


class PostQueries(MessageQueries):
    async def post_message(
        self,
        user_id: str,
        session_id: str,
        role: str,
        content: str,
        key: str | None,
        *,
        awaits_answer: bool,
    ) -> tuple[MessageRow, bool] | None:
        """Store a complete message of ``role`` in the session of ``user_id``, once per ``key``
        (kept as its ``client_msg_id``, so a key and a browser's id are one namespace):
        (message, duplicate), or None when the session is not the user's. Raises
        ContentMismatch when the key is stored with another role or content.
        ``awaits_answer``: a user message the session's agent is to answer."""

        def write(conn: Connection) -> tuple[MessageRow, bool] | None:
            if key is not None:
                found = find_by_client_msg_id(conn, user_id, session_id, key)
                if found is not None:
                    if (found["role"], found["content"]) != (role, content):
                        raise ContentMismatch(key)
                    return found, True
            row = insert_new(
                conn, session_id, user_id=user_id, role=role, content=content,
                status=MessageStatus.COMPLETE, client_msg_id=key, awaits_answer=awaits_answer,
            )
            return None if row is None else (row, False)

        # A key stored concurrently fails the unique constraint; the retry finds it.
        return await self._once_per_id(lambda: self._transact(write))
