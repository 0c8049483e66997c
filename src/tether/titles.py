"""A chat's name from its first message: the sidebar would otherwise say "New chat" forever.

Named on the server, when the first user message of a session still titled by default is stored,
so every tab and device gets the same name in one `session` event (naming it in the client would
have each tab race to rename it). A title the user chose is never replaced. Pure.
"""

from __future__ import annotations

from typing import Final

#: Longest title made from a message; the sidebar shows one line of it.
TITLE_CHARS: Final = 60


def title_from_message(content: str) -> str | None:
    """The first non-blank line of ``content``, whitespace collapsed, cut at a word boundary to at
    most ``TITLE_CHARS`` characters with an ellipsis; None when there is no text."""
    line = next((ln for ln in content.splitlines() if ln.strip()), "")
    text = " ".join(line.split())
    if not text:
        return None
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space >= TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
