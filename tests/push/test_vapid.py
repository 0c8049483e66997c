"""The VAPID key pair: generated once into the data dir, or given by settings."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from py_vapid import Vapid02

from tests.support.client import Client
from tests.support.inprocess import serve_in_process
from tether.push.vapid import KEY_FILE, load_keys


def test_the_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_keys(data, None, "mailto:a@example.com")
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600
    assert load_keys(data, None, "mailto:a@example.com").public_key == first.public_key
    raw = base64.urlsafe_b64decode(first.public_key + "==")
    assert len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point
    assert [p.name for p in data.iterdir()] == [KEY_FILE]  # no temporary file left


def test_a_key_given_by_settings_wins(tmp_path: Path) -> None:
    given = Vapid02()
    given.generate_keys()
    keys = load_keys(tmp_path, given.private_pem().decode(), "https://example.com/contact")
    assert keys.public_key == load_keys(tmp_path, given.private_pem().decode(), "x").public_key
    assert not (tmp_path / KEY_FILE).exists()
    claims = keys.claims("https://fcm.googleapis.com/fcm/send/abc")
    assert claims["aud"] == "https://fcm.googleapis.com"
    assert claims["sub"] == "https://example.com/contact"


async def test_a_bad_key_leaves_the_server_running_without_push(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_in_process(tmp_path / "data", vapid_private_key="not a key") as server:
        client = Client(server.url)
        await client.connect()
        try:
            assert client.hello is not None and "push" not in client.hello
            ack = await client.call("push_subscribe", {
                "endpoint": "https://push.example/x",
                "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
            })
            assert ack["error"] == {"code": "invalid",
                                    "message": "push notifications are off on this server"}
        finally:
            await client.close()
    assert "Web Push is off: no VAPID key" in caplog.text
