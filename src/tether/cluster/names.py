"""Every Socket.IO room name and every Redis key or channel name, in one place.

Rooms: ``s:<session id>`` holds a session's followers, ``u:<user id>`` every socket of a user.
Redis names all start with the deployment's ``redis_prefix``, so several deployments can share
one Redis.
"""

from __future__ import annotations

SESSION_ROOM = "s:"
USER_ROOM = "u:"


def session_room(session_id: str) -> str:
    """The room of a session's followers."""
    return SESSION_ROOM + session_id


def user_room(user_id: str) -> str:
    """The room of every socket of a user."""
    return USER_ROOM + user_id


def session_of_room(room: object) -> str | None:
    """The session id a room name stands for, or None for any other room."""
    if isinstance(room, str) and room.startswith(SESSION_ROOM):
        return room.removeprefix(SESSION_ROOM)
    return None


class RedisNames:
    """The Redis channels and keys of one deployment (``prefix``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def socketio_channel(self) -> str:
        """python-socketio's fan-out channel."""
        return f"{self.prefix}:socketio"

    @property
    def control_channel(self) -> str:
        """Cancel requests and their replies."""
        return f"{self.prefix}:control"

    def client(self, key: str) -> str:
        """Which socket holds a (user, client_id)."""
        return f"{self.prefix}:client:{key}"

    def stream(self, message_id: str) -> tuple[str, str]:
        """A streaming message's text so far, and its chunk count."""
        base = f"{self.prefix}:stream:{message_id}"
        return base + ":text", base + ":chunks"

    def stream_ops(self, message_id: str) -> str:
        """A streaming message's part ops so far: a list of JSON arrays, one per chunk."""
        return f"{self.prefix}:stream:{message_id}:ops"
