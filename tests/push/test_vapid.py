"""The VAPID key pair: generated once into the data dir, or given by settings."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from py_vapid import Vapid02

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
