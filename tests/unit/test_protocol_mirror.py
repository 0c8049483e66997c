"""The browser client's protocol.js names exactly what protocol.py names."""

from __future__ import annotations

import re
from pathlib import Path

from tether import protocol

JS = Path(protocol.__file__).with_name("static") / "js" / "client" / "protocol.js"


def js_block(name: str) -> str:
    source = JS.read_text()
    match = re.search(rf"export const {name} = Object\.freeze\(([\[{{].*?[\]}}])\);", source, re.S)
    assert match, f"{name} not found in {JS}"
    return match.group(1)


def test_event_names_agree() -> None:
    pairs = dict(re.findall(r'(\w+):\s*"([a-z_]+)"', js_block("EVENTS")))
    python = {k: v for k, v in vars(protocol.Event).items() if k.isupper()}
    assert pairs == python


def test_error_codes_agree() -> None:
    codes = re.findall(r'"([a-z_]+)"', js_block("ERROR_CODES"))
    assert tuple(codes) == protocol.ERROR_CODES


def test_protocol_version_agrees() -> None:
    match = re.search(r"PROTOCOL_VERSION = (\d+);", JS.read_text())
    assert match and int(match.group(1)) == protocol.PROTOCOL_VERSION
