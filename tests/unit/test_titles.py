"""A chat's title from its first message (tether.titles)."""

from __future__ import annotations

from tether.titles import TITLE_CHARS, title_from_message


def test_the_first_line_collapsed() -> None:
    assert title_from_message("\n\n  How do   I bake\tbread?\nmore lines") == "How do I bake bread?"


def test_nothing_to_name_it_by() -> None:
    assert title_from_message(" \n\t ") is None


def test_long_text_is_cut_at_a_word_with_an_ellipsis() -> None:
    title = title_from_message("word " * 40)
    assert title is not None
    assert len(title) <= TITLE_CHARS and title.endswith("word…")
    one_long_word = title_from_message("x" * 200)
    assert one_long_word == "x" * (TITLE_CHARS - 1) + "…"
