"""The command line: clear one-line errors and a non-zero exit for bad input."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.accounts import Accounts
from tether.db.engine import create_engine
from tether.store import Store


def tether(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_flag() -> None:
    one_line_error(tether("serve", "--nope"), "unrecognized arguments: --nope")
    one_line_error(tether("serve", "--port", "many"), "--port", "invalid int")
    one_line_error(tether("serve", "--port", "70000"), "port")


def test_bad_environment_setting() -> None:
    one_line_error(tether("serve", env={"TETHER_ECHO_DELAY": "soon"}), "TETHER_ECHO_DELAY")


def test_unusable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    one_line_error(tether("serve", "--data-dir", str(blocker / "sub")), "cannot use data dir")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://x/y", ("unsupported database",)),
        ("sqlite://", ("needs a file path",)),
        ("::::", ("cannot parse database URL",)),
        ("sqlite:////nonexistent-dir/sub/x.db", ("cannot",)),
    ],
)
def test_bad_database_url(tmp_path: Path, url: str, words: tuple[str, ...]) -> None:
    one_line_error(
        tether("serve", "--data-dir", str(tmp_path), "--database-url", url, "--port", "0"), *words
    )
    one_line_error(tether("db", "upgrade", "--data-dir", str(tmp_path), "--database-url", url))


def test_refuses_public_address_without_tokens(tmp_path: Path) -> None:
    result = tether("serve", "--data-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "0")
    one_line_error(result, "refusing to serve on 0.0.0.0", "tether token create NAME")


def test_token_commands(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert "no tokens" in tether("token", "list", *data).stdout
    made = tether("token", "create", "alice", "--url", "http://192.0.2.1:8000/", *data)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("tt_") and len(token) > 40
    assert f"http://192.0.2.1:8000/?token={token}" in made.stdout
    assert token not in (tmp_path / "tether.db").read_bytes().decode("latin-1")  # hash only
    listed = tether("token", "list", *data).stdout
    assert "alice\t1 token(s)" in listed
    one_line_error(tether("token", "create", "bad name!", *data), "NAME must be")
    one_line_error(tether("token", "revoke", "nobody", *data), "has no tokens")
    assert tether("token", "revoke", "alice", *data).returncode == 0


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = tether("db", "upgrade", "--data-dir", str(tmp_path))
        assert result.returncode == 0 and "up to date" in result.stdout


def test_db_new_epoch_renews_the_epochs_of_sessions(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert tether("db", "upgrade", *data).returncode == 0
    url = f"sqlite:///{tmp_path / 'tether.db'}"

    async def epochs(create: int = 0) -> list[str]:
        store = Store(create_engine(url))
        try:
            user = await Accounts(store.engine).ensure_user("alice")
            for _ in range(create):
                await store.create_session(user.id, None, "t", "echo")
            listed, _ = await store.list_sessions(user.id, 10, None)
            return sorted(s["epoch"] for s in listed)
        finally:
            await store.close()

    before = asyncio.run(epochs(create=2))
    renewed = tether("db", "new-epoch", *data)
    assert renewed.returncode == 0 and "gave 2 session(s) a new epoch" in renewed.stdout
    after = asyncio.run(epochs())
    assert len(after) == 2 and not set(after) & set(before)
    one_line_error(tether("db", "new-epoch", "no-such-session", *data), "renewed 0 of 1")


def test_bad_agents_file_and_unknown_default_agent(tmp_path: Path) -> None:
    (tmp_path / "agents.toml").write_text('[agents.x]\nkind = "magic"\n')
    one_line_error(
        tether("serve", "--data-dir", str(tmp_path), "--port", "0"),
        "agents.toml", "unknown kind 'magic'",
    )
    (tmp_path / "agents.toml").unlink()
    one_line_error(
        tether("serve", "--data-dir", str(tmp_path), "--port", "0", "--agent", "nope"),
        "'nope'", "not configured",
    )


def test_signin_prints_a_working_link_and_qr(tmp_path: Path) -> None:
    import re

    import httpx

    from tests.support.server import start_server

    server = start_server(tmp_path / "data", args=("--signin", "phone"))
    try:
        import time

        deadline = time.monotonic() + 10
        while "█" not in "".join(server.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        out = "".join(server.output)
        match = re.search(r"(http://\S+/\?token=(tt_\S+))", out)
        assert match, out
        assert "█" in out  # the QR code
        token = match.group(2)
        posted = httpx.post(
            server.url + "/api/client-logs",
            json={"client_id": "qr", "lines": [{"level": "info", "msg": "signed in"}]},
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        )
        assert posted.status_code == 200
    finally:
        server.stop()


def test_bad_event_loop_setting() -> None:
    one_line_error(tether("serve", env={"TETHER_EVENT_LOOP": "fast"}), "TETHER_EVENT_LOOP")


def test_signin_on_all_interfaces_links_an_address_not_a_loopback_name(tmp_path: Path) -> None:
    """Stock Debian maps the host name to 127.0.1.1: a link made from the name sends a phone to
    itself. The link names the outward interface's address (only printed here: no traffic is
    sent to it)."""
    import ipaddress
    import re

    from tests.support.server import start_server

    server = start_server(
        tmp_path / "data", args=("--host", "0.0.0.0", "--signin", "phone")
    )
    try:
        import time

        deadline = time.monotonic() + 10
        while "?token=" not in "".join(server.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        out = "".join(server.output)
        match = re.search(r"listening on http://([^/:\s]+):\d+/", out)
        assert match, out
        address = ipaddress.ip_address(match.group(1))  # an address, never a host name
        link = re.search(r"http://([^/:\s]+):\d+/\?token=tt_", out)
        assert link and link.group(1) == match.group(1), out
        assert not address.is_link_local
    finally:
        server.stop()
