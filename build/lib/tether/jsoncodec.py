"""orjson as python-socketio's JSON module: packets are encoded several times faster."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, **_: Any) -> Any:
    return orjson.loads(data)
