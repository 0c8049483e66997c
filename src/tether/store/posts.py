"""Messages an application posts into a session (tether.publish): user or assistant, complete
at once, idempotent by the caller's key."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from tether.protocol import MessageStatus
from tether.store.messages import MessageQueries
from tether.store.rows import ContentMismatch, MessageRow, StorageUnavailable


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
        for _attempt in range(2):
            try:
                async with self._write() as conn:
                    if key is not None:
                        found = await self._by_client_msg_id(conn, user_id, session_id, key)
                        if found is not None:
                            if (found["role"], found["content"]) != (role, content):
                                raise ContentMismatch(key)
                            return found, True
                    taken = await self._next_seq(
                        conn, session_id, user_id=user_id, new_message=True
                    )
                    if taken is None:
                        return None
                    row = await self._insert_message(
                        conn, session_id=session_id, position=taken[1], seq=taken[0],
                        role=role, content=content, status=MessageStatus.COMPLETE,
                        client_msg_id=key, awaits_answer=awaits_answer,
                    )
                    return row, False
            except IntegrityError:
                continue  # the same key was stored concurrently: the retry finds it
        raise StorageUnavailable("could not store the message")
