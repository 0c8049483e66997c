"""Users and bearer tokens. Only a token's sha256 is stored; tokens are 256 random bits.

Authentication runs on every connection, so its answers are kept for a few seconds (positive ones
only: an unknown token always asks the database, so a new token works at once), and connections of
one token that miss the cache together (a reconnect storm: every tab and device of a user at
once) share one lookup. A token revoked
by another process (``tether token revoke``) therefore stops opening new connections within that
time, ``auth_cache_ttl`` (5 s by default); revoking in this process takes effect at once. Open
connections of a revoked token are closed by tether.revocation.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tether.cache import Cache
from tether.db.schema import sessions, tokens, users
from tether.store import iso, utcnow

LOCAL_USER = "local"
TOKEN_PREFIX = "tt_"
AUTH_CACHE_TTL = 5.0
AUTH_CACHE_SIZE = 10_000
#: The cache key of local mode's answer (token hashes are hex, so it cannot collide).
_LOCAL_MODE = "local mode"
#: The user of a token hash: built once, not per sign-in (building the expression is most of
#: the lookup's Python time; a reconnect storm makes one per user).
_USER_FOR_HASH = (
    select(users.c.id, users.c.name)
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash == bindparam("token_hash"))
)


class UserOut(TypedDict):
    """A user on the wire (``hello.user``)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str

    def out(self) -> UserOut:
        return {"id": self.id, "name": self.name}


class TokenSummary(TypedDict):
    """One user's tokens, as ``tether token list`` prints them."""

    user: str
    tokens: int
    #: When the newest token was made (ISO-8601 UTC).
    newest: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_user_name(name: str) -> bool:
    return 1 <= len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)


class Accounts:
    """Users and their tokens."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        auth_cache_ttl: float = AUTH_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        #: token hash (or _LOCAL_MODE) -> the user ``authenticate`` found for it.
        self._authenticated: Cache[str, User] = Cache(AUTH_CACHE_SIZE, auth_cache_ttl, clock)
        #: token hash -> the database lookup in progress for it (shared by every caller).
        self._looking_up: dict[str, asyncio.Task[User | None]] = {}

    async def ensure_user(self, name: str) -> User:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users.c.id).where(users.c.name == name))).first()
        if row is not None:
            return User(row.id, name)
        try:
            async with self.engine.begin() as conn:
                user_id = str(uuid.uuid4())
                await conn.execute(
                    users.insert().values(id=user_id, name=name, created_at=utcnow())
                )
            return User(user_id, name)
        except IntegrityError:
            return await self.ensure_user(name)

    async def adopt(self, user: User) -> None:
        """Give a user an application's ``authenticate`` returned a row of its own (sessions
        belong to a user row), the first time it is seen. Ids are the app's, kept as given;
        names need not be unique in the app, so a name already taken gets the id after it."""
        if not 1 <= len(user.id) <= 36:
            raise ValueError(f"user id {user.id!r}: 1-36 characters, as users.id holds")
        async with self.engine.connect() as conn:
            if (await conn.execute(select(users.c.id).where(users.c.id == user.id))).first():
                return
        for name in (user.name[:64], f"{user.name[:26]} ({user.id})"):
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        users.insert().values(id=user.id, name=name, created_at=utcnow())
                    )
                return
            except IntegrityError:
                async with self.engine.connect() as conn:
                    taken = select(users.c.id).where(users.c.id == user.id)
                    if (await conn.execute(taken)).first():
                        return  # another connection of the same user was first

    async def create_token(self, name: str) -> str:
        """A new token for user ``name`` (created when missing); only its hash is stored."""
        user = await self.ensure_user(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(
                tokens.insert().values(
                    id=str(uuid.uuid4()),
                    user_id=user.id,
                    token_hash=hash_token(token),
                    created_at=utcnow(),
                )
            )
        self._authenticated.discard(_LOCAL_MODE)  # a token exists now: local mode is over
        return token

    async def list_tokens(self) -> list[TokenSummary]:
        """Per user with tokens: name, how many tokens, when the newest was made."""
        query = (
            select(users.c.name, func.count(tokens.c.id), func.max(tokens.c.created_at))
            .join(tokens, tokens.c.user_id == users.c.id)
            .group_by(users.c.name)
            .order_by(users.c.name)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{"user": r[0], "tokens": r[1], "newest": iso(r[2])} for r in rows]

    async def revoke(self, name: str) -> int:
        """Delete every token of user ``name``; how many there were."""
        async with self.engine.begin() as conn:
            user_id = (await conn.execute(select(users.c.id).where(users.c.name == name))).scalar()
            if user_id is None:
                return 0
            result = await conn.execute(delete(tokens).where(tokens.c.user_id == user_id))
        self._authenticated.clear()
        return int(result.rowcount)

    async def authenticate(self, token: object, *, local_allowed: bool) -> User | None:
        """The user a bearer token stands for; without a token, the local user when local
        mode is allowed (loopback) and no token exists. None means unauthorized.

        A user found is remembered for ``auth_cache_ttl`` seconds (see the module's docstring);
        a refusal never is."""
        if isinstance(token, str) and token:
            key = hash_token(token)
        elif local_allowed:
            key = _LOCAL_MODE
        else:
            return None
        user = self._authenticated.get(key)
        if user is not None:
            return user
        if key == _LOCAL_MODE:
            user = None if await self.has_tokens() else await self.ensure_user(LOCAL_USER)
        else:
            user = await self._shared_lookup(key)
        if user is not None:
            self._authenticated.put(key, user)
        return user

    async def _shared_lookup(self, token_hash: str) -> User | None:
        """The user of a token hash, from the lookup already in progress for it if there is
        one (a caller cancelled does not cancel it for the others)."""
        lookup = self._looking_up.get(token_hash)
        if lookup is None:
            lookup = asyncio.ensure_future(self._user_for_hash(token_hash))
            self._looking_up[token_hash] = lookup

            def done(task: asyncio.Task[User | None]) -> None:
                del self._looking_up[token_hash]
                if not task.cancelled():
                    task.exception()  # retrieved: every caller may have gone

            lookup.add_done_callback(done)
        return await asyncio.shield(lookup)

    async def existing(self, token_hashes: Iterable[str]) -> set[str]:
        """Which of these token hashes still stand for a token (never cached)."""
        wanted = list(token_hashes)
        if not wanted:
            return set()
        query = select(tokens.c.token_hash).where(tokens.c.token_hash.in_(wanted))
        async with self.engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    def forget(self, token_hash: str) -> None:
        """Drop a remembered answer for this token (it was revoked elsewhere)."""
        self._authenticated.discard(token_hash)

    async def adopt_local(self, name: str) -> int:
        """Hand every session of the local user (local mode's chats) to user ``name`` (created
        when missing); how many there were. Creating the first token ends local mode, and the
        chats made in it would otherwise seem to vanish: they belong to ``local``, whom no token
        names. A running server may answer from its cached session owners for a few seconds."""
        if name == LOCAL_USER:
            return 0
        target = await self.ensure_user(name)
        async with self.engine.begin() as conn:
            local_id = (
                await conn.execute(select(users.c.id).where(users.c.name == LOCAL_USER))
            ).scalar()
            if local_id is None:
                return 0
            result = await conn.execute(
                sessions.update().where(sessions.c.user_id == local_id).values(user_id=target.id)
            )
        return int(result.rowcount)

    async def has_tokens(self) -> bool:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(tokens.c.id).limit(1))).first() is not None

    async def _user_for_hash(self, token_hash: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_USER_FOR_HASH, {"token_hash": token_hash})).first()
        return None if row is None else User(row.id, row.name)
