"""The ``tether`` command: serve, token, db, logs."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from pydantic import ValidationError

from tether import __version__
from tether.settings import Settings

if TYPE_CHECKING:
    from tether.server import Build


DEFAULT_URL = "http://127.0.0.1:8000/"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(message: str, status: int = 1) -> int:
    print(f"tether: {message}", file=sys.stderr)
    return status


def add_storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (TETHER_DATA_DIR, ./tether-data)")
    parser.add_argument("--database-url", help="sqlite:///path or postgresql://... "
                        "(TETHER_DATABASE_URL; default SQLite in the data dir)")


def build_parser() -> Parser:
    parser = Parser(prog="tether", description="Resumable real-time chat sessions over Socket.IO.")
    parser.add_argument("--version", action="version", version=f"tether {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to bind (TETHER_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port, 0 for any free one (TETHER_PORT, 8000)")
    serve.add_argument("--agent", help="default agent of new sessions (TETHER_AGENT, echo)")
    serve.add_argument("--redis-url", help="Redis URL for several nodes (TETHER_REDIS_URL)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (TETHER_LOG_LEVEL)")
    serve.add_argument("--signin", metavar="NAME",
                       help="make a token for user NAME and print its sign-in link and QR code")
    add_storage_flags(serve)

    token = commands.add_parser("token", help="manage bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, parser_class=Parser)
    create = token_commands.add_parser("create", help="print a new token for user NAME")
    create.add_argument("name")
    create.add_argument("--url", help="also print a sign-in link to this server and its QR code")
    add_storage_flags(create)
    listing = token_commands.add_parser("list", help="list users with tokens")
    add_storage_flags(listing)
    revoke = token_commands.add_parser("revoke", help="delete every token of user NAME")
    revoke.add_argument("name")
    add_storage_flags(revoke)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True, parser_class=Parser)
    adopt = user_commands.add_parser(
        "adopt-local", help="hand the chats of local mode (user 'local') to user NAME"
    )
    adopt.add_argument("name", metavar="NAME")
    add_storage_flags(adopt)

    logs = commands.add_parser("logs", help="server and browser logs")
    logs_commands = logs.add_subparsers(dest="logs_command", required=True, parser_class=Parser)
    tail = logs_commands.add_parser("tail", help="follow <data dir>/logs/app.log")
    tail.add_argument("--frontend", action="store_true",
                      help="follow the browsers' logs (logs/frontend/) instead")
    tail.add_argument("-n", "--lines", type=int, default=20, help="lines to show first (20)")
    tail.add_argument("--no-follow", action="store_true", help="print and exit")
    tail.add_argument("--data-dir", help="data directory (TETHER_DATA_DIR, ./tether-data)")

    post = commands.add_parser(
        "post", help="post a message into a session of a running server (over HTTP)"
    )
    post.add_argument("session", metavar="SESSION", help="the session's id")
    post.add_argument("text", metavar="TEXT", help="the message")
    post.add_argument("--role", choices=["user", "assistant"], default="user",
                      help="who says it (user)")
    post.add_argument("--key", help="idempotency key: the same key again stores it once")
    post.add_argument("--respond", action="store_true",
                      help="after a user message: the session's agent answers it")
    post.add_argument("--url", default=os.environ.get("TETHER_URL", DEFAULT_URL),
                      help=f"the server, with its prefix if mounted (TETHER_URL, {DEFAULT_URL})")
    post.add_argument("--token", default=os.environ.get("TETHER_TOKEN"),
                      help="a token of the session's owner (TETHER_TOKEN; none in local mode)")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=Parser)
    up = db_commands.add_parser("upgrade", help="apply pending migrations")
    add_storage_flags(up)
    renew = db_commands.add_parser(
        "new-epoch",
        help="give sessions a new epoch, so every client rebuilds its view of them; "
        "run it after restoring the database from a backup",
    )
    renew.add_argument("session_ids", nargs="*", metavar="SESSION_ID",
                       help="only these sessions (default: every session)")
    add_storage_flags(renew)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "agent", "redis_url", "log_level", "data_dir", "database_url",
                 "signin"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"TETHER_{name.upper()} / --{name.replace('_', '-')}: {message}")
    return "bad setting: " + "; ".join(parts)


def main(argv: Sequence[str] | None = None, *, build: Build | None = None) -> int:
    """Run the ``tether`` command; ``build`` makes the Tether that ``serve`` runs (by default
    ``Tether(settings)``)."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        return fail(describe(exc), 2)
    if args.command == "post":
        return post_command(args)
    if args.command == "serve":
        from tether import logs, server
        from tether.accounts import valid_user_name

        if settings.signin is not None and not valid_user_name(settings.signin):
            return fail("--signin NAME must be 1-64 letters, digits, '-', '_' or '.'", 2)
        try:
            server.check_data_dir(settings)
        except server.StartupError as exc:
            return fail(str(exc))
        logs.configure(settings.logs_dir, settings.log_level)
        return server.run(settings) if build is None else server.run(settings, build)
    if args.command == "logs":
        from tether.logtail import tail

        if not settings.logs_dir.is_dir():
            return fail(f"no logs in {settings.logs_dir}: has `tether serve` run there?")
        try:
            for line in tail(settings.logs_dir, frontend=args.frontend, lines=max(args.lines, 0),
                             follow=not args.no_follow):
                print(line, flush=True)
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "token":
        return run_storage(settings, lambda engine: token_command(args, engine))
    if args.command == "db" and args.db_command == "new-epoch":
        return run_storage(settings, lambda engine: new_epoch_command(args, engine))
    if args.command == "user":
        return run_storage(settings, lambda engine: user_command(args, engine))
    if args.command == "db":

        async def do_upgrade(engine: Any) -> int:
            print("database is up to date")  # run_storage has migrated it
            return 0

        return run_storage(settings, do_upgrade)
    return fail(f"unknown command {args.command}", 2)


def run_storage(settings: Settings, action: Callable[[Any], Awaitable[int]]) -> int:
    """Run ``action(engine)`` after migrating; storage problems become one line and exit 1."""
    from tether.db.engine import (
        BadDatabaseURL,
        check_sqlite_directory,
        create_engine,
        describe_error,
    )
    from tether.db.migrate import upgrade
    from tether.server import StartupError, check_data_dir

    async def go() -> int:
        engine = create_engine(settings.resolved_database_url)
        try:
            await upgrade(engine)
            return await action(engine)
        finally:
            await engine.dispose()

    try:
        if settings.database_url is None:
            check_data_dir(settings)
        check_sqlite_directory(settings.resolved_database_url)
        return asyncio.run(go())
    except (BadDatabaseURL, StartupError) as exc:
        return fail(str(exc))
    except Exception as exc:
        return fail(f"cannot use the database: {describe_error(exc)}")


async def token_command(args: argparse.Namespace, engine: Any) -> int:
    from tether.accounts import Accounts, valid_user_name

    accounts = Accounts(engine)
    if args.token_command == "create":
        if not valid_user_name(args.name):
            return fail("NAME must be 1-64 letters, digits, '-', '_' or '.'", 2)
        ending_local_mode = not await accounts.has_tokens()
        token = await accounts.create_token(args.name)
        if ending_local_mode:
            print(
                "This is the first token: local mode is over, and every connection needs a token"
                " now. The chats made in local mode belong to user 'local' and no longer show;"
                f" `tether user adopt-local {args.name}` hands them to {args.name}."
            )
        print(f"New token for user {args.name} (shown once; only its hash is stored):")
        if args.url:
            link = args.url.rstrip("/") + "/?token=" + token
            print(f"Sign-in link: {link}")
            print_qr(link)
        print(token)
        return 0
    if args.token_command == "list":
        rows = await accounts.list_tokens()
        if not rows:
            print("no tokens: the server runs in local mode on loopback addresses")
        for row in rows:
            print(f"{row['user']}\t{row['tokens']} token(s)\tnewest {row['newest']}")
        return 0
    removed = await accounts.revoke(args.name)
    if not removed:
        return fail(f"user {args.name} has no tokens")
    print(f"revoked {removed} token(s) of user {args.name}; every server closes the user's open "
          f"connections within {settings_recheck()} s")
    return 0


async def new_epoch_command(args: argparse.Namespace, engine: Any) -> int:
    from tether.store import Store

    renewed = await Store(engine).renew_epochs(args.session_ids or None)
    if args.session_ids and renewed < len(set(args.session_ids)):
        return fail(f"renewed {renewed} of {len(set(args.session_ids))} sessions: "
                    "the others do not exist")
    print(f"gave {renewed} session(s) a new epoch: clients rebuild their view at the next "
          "subscribe")
    return 0


def post_command(args: argparse.Namespace) -> int:
    """``tether post``: POST /api/sessions/{id}/messages (docs/protocol.md, section 7.1) on a
    running server; every failure is one line and exit status 1."""
    import httpx

    url = f"{args.url.rstrip('/')}/api/sessions/{quote(args.session, safe='')}/messages"
    body: dict[str, Any] = {"content": args.text, "role": args.role, "respond": args.respond}
    if args.key is not None:
        body["key"] = args.key
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        answer = httpx.post(url, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        return fail(f"cannot reach {args.url}: {exc or type(exc).__name__}")
    try:
        reply = answer.json()
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        return fail(f"{url} answered HTTP {answer.status_code}, not Tether's publish endpoint")
    if not reply["ok"]:
        error = reply.get("error") or {}
        return fail(f"{error.get('code', answer.status_code)}: {error.get('message', '')}")
    message = reply["message"]
    said = "already posted" if reply.get("duplicate") else "posted"
    print(f"{said}: message {message['id']} (seq {message['seq']}) in session {args.session}")
    return 0


def settings_recheck() -> float:
    """The servers' token recheck interval as this environment sets it (tether.revocation)."""
    return Settings().token_recheck_seconds


async def user_command(args: argparse.Namespace, engine: Any) -> int:
    from tether.accounts import LOCAL_USER, Accounts, valid_user_name

    if not valid_user_name(args.name) or args.name == LOCAL_USER:
        return fail(f"NAME must be 1-64 letters, digits, '-', '_' or '.', and not {LOCAL_USER}", 2)
    moved = await Accounts(engine).adopt_local(args.name)
    print(f"{moved} chat(s) of local mode now belong to user {args.name}")
    return 0


def print_qr(text: str) -> None:
    import segno

    segno.make(text, error="m").terminal(compact=True)
