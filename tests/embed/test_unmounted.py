"""How a mounted Tether sees its scope: the prefix taken off ``path`` once (pure function)."""

from __future__ import annotations

from typing import Any

from tether.app import unmounted


def scope(path: str, root_path: str = "", kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "path": path, "raw_path": path.encode(), "root_path": root_path}


def test_the_prefix_comes_off_path_and_root_path_is_emptied() -> None:
    seen = unmounted(scope("/chat/socket.io/", "/chat", "websocket"))
    assert (seen["path"], seen["raw_path"]) == ("/socket.io/", b"/socket.io/")
    assert seen["root_path"] == ""
    assert seen["tether.root_path"] == "/chat"
    assert unmounted(scope("/chat", "/chat"))["path"] == "/"


def test_a_prefix_that_repeats_in_the_path_comes_off_once() -> None:
    seen = unmounted(scope("/static/static/css/app.css", "/static"))
    assert seen["path"] == "/static/css/app.css"


def test_scopes_not_under_the_prefix_or_without_one_are_left_alone() -> None:
    for unchanged in (scope("/socket.io/"), scope("/chatroom/x", "/chat"),
                      {"type": "lifespan"}, scope("/other", "/chat")):
        assert unmounted(unchanged) is unchanged
